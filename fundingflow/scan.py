"""``fundingflow scan``: the same processors on one snapshot of the venues (no Kafka).

Fetches instruments, funding rates and order books once per venue through the connectors'
venue protocol (ccxt venues, or the simulated ``sim-*`` venues), folds them through the market
reducer, runs one lifecycle step per asset and ranks what would open.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from decimal import Decimal
from typing import Any

from connectors.config import ConnectorSettings
from connectors.facts import instrument_facts
from connectors.feed import venue_now_ms
from connectors.instruments import select
from connectors.instruments import venue_currencies
from connectors.venue import Rejected
from connectors.venue import Venue
from processors.detection import detect
from processors.detection import evaluate
from processors.market_state import MarketReducer
from processors.opportunities import OpportunityBook
from processors.opportunities import step
from processors.settings import MarketSettings
from schemas.records.arb import SpreadKind
from schemas.records.common import MarketType
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts


@dataclass(frozen=True, slots=True)
class ScanRow:
    type: str
    asset: str
    long_leg: str
    short_leg: str
    funding_apr_long: Decimal | None
    """Annualized (simple) funding rate of the long leg, fraction per year; None for spot."""
    funding_apr_short: Decimal | None
    net_apr: Decimal
    """Net edge after every cost, annualized, fraction per year."""
    net_edge_bps: Decimal
    break_even_hours: Decimal | None
    max_size_base: Decimal
    max_notional_quote: Decimal
    blocked_by: tuple[str, ...] = field(default=())
    """Why this candidate does not open now (empty when it opens)."""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = (
                str(v) if isinstance(v, Decimal) else list(v) if isinstance(v, tuple) else v
            )
        return out


def blocked_by(
    candidate: Any, evaluation: Any, view: Any, now_ms: int, config: Any
) -> tuple[str, ...]:
    """Every reason ``candidate`` does not open now, in words (empty when it opens)."""
    reasons: list[str] = []
    for key in (candidate.long, candidate.short):
        state = view.get(key)
        if state is None or now_ms - state.book.ts_ms > config.stale_after_ms:
            reasons.append(f"stale leg {key} (older than {config.stale_after_ms} ms)")
    t = config.thresholds[candidate.type]
    if evaluation.net_edge_apr < t.open_net_apr:
        reasons.append(
            f"net APR {evaluation.net_edge_apr * 100:.2f}% below entry {t.open_net_apr * 100:.2f}%"
        )
    if evaluation.net_edge_bps < t.open_net_bps:
        reasons.append(
            f"net edge {evaluation.net_edge_bps:.1f} bps below entry {t.open_net_bps:.1f} bps"
        )
    if evaluation.size_base >= evaluation.depth_size_base and evaluation.depth_size_base > 0:
        reasons.append("size limited by book depth within max slippage")
    if candidate.type is not SpreadKind.CROSS_EXCHANGE_PRICE and not reasons:
        hours = evaluation.costs.break_even_hours
        if hours is None or hours * 3_600_000 > config.max_holding_ms:
            reasons.append("break-even beyond max holding time")
    return tuple(reasons)


def rank(
    books: Sequence[BookSnapshot],
    funding: Sequence[FundingRateUpdate],
    settings: MarketSettings,
    all_candidates: bool = False,
    facts: Sequence[InstrumentFacts] = (),
) -> list[ScanRow]:
    """Rows of everything that opens on this snapshot (every evaluated candidate when
    ``all_candidates``), best net APR first, sized and priced from the instruments' ``facts``
    as the worker does. When nothing opens, the best candidates are returned anyway, each with
    ``blocked_by`` saying why it does not open."""
    rows = _rank(books, funding, settings, all_candidates, facts)
    if rows or all_candidates:
        return rows
    return _rank(books, funding, settings, True, facts)[:BEST_WHEN_NONE_OPENS]


BEST_WHEN_NONE_OPENS = 10


def _rank(
    books: Sequence[BookSnapshot],
    funding: Sequence[FundingRateUpdate],
    settings: MarketSettings,
    all_candidates: bool,
    facts: Sequence[InstrumentFacts] = (),
) -> list[ScanRow]:
    reducer = MarketReducer(settings.model_copy(update={"min_eval_interval_ms": 2**62}))
    for fact in facts:
        reducer.apply(fact)
    records: list[BookSnapshot | FundingRateUpdate] = [*funding, *books]
    for record in records:
        reducer.apply(record)
    times = [r.envelope.event_time_ms for r in records]
    now = max(times, default=0)
    rows: list[ScanRow] = []
    for asset in sorted(reducer.assets):
        view = reducer.view(asset)
        if all_candidates:
            found = [
                (c, evaluate(c, view, now, reducer.detection))
                for c in detect(view, reducer.detection)
            ]
        else:
            _book, events = step(OpportunityBook(), view, now, reducer.detection)
            found = [(e.opportunity.candidate, e.opportunity.evaluation) for e in events]
        for c, ev in found:
            if ev is None:
                continue
            aprs = [
                view[k].funding.rate.apr_simple() if view[k].funding is not None else None  # type: ignore[union-attr]
                for k in (c.long, c.short)
            ]
            rows.append(
                ScanRow(
                    type=c.type.value,
                    asset=asset,
                    long_leg=str(c.long),
                    short_leg=str(c.short),
                    funding_apr_long=aprs[0],
                    funding_apr_short=aprs[1],
                    net_apr=ev.net_edge_apr,
                    net_edge_bps=ev.net_edge_bps,
                    break_even_hours=ev.costs.break_even_hours,
                    max_size_base=ev.size_base,
                    max_notional_quote=ev.costs.notional_quote,
                    blocked_by=blocked_by(c, ev, view, now, reducer.detection)
                    if all_candidates
                    else (),
                )
            )
    return sorted(rows, key=lambda r: (-r.net_apr, r.asset, r.long_leg, r.short_leg))


@dataclass
class Snapshot:
    """One fetch of the venues: what the processors rank, and the funding the venues sent that
    the connectors refused (dead letters in ``connect``; counted and reported here)."""

    books: list[BookSnapshot] = field(default_factory=list)
    funding: list[FundingRateUpdate] = field(default_factory=list)
    facts: list[InstrumentFacts] = field(default_factory=list)
    """Every selected instrument's facts (lot, fees), as the connector publishes them."""
    refused_funding: list[Rejected] = field(default_factory=list)
    venues_without_perps: list[str] = field(default_factory=list)

    def refusals_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(r.reason.value for r in self.refused_funding).items()))


async def snapshot(
    venue_ids: Sequence[str],
    assets: Sequence[str] | None = None,
    depth: int = 20,
    seed: int = 0,
    connectors: ConnectorSettings | None = None,
    venue_factory: Callable[[str], Sequence[Venue]] | None = None,
) -> Snapshot:
    """One fetch of books and funding for every spot and linear perp of the wanted assets, in
    each venue's quote and settle currencies (``FUNDINGFLOW_CONNECTORS__VENUES__<ID>__QUOTE``)."""
    settings = connectors or ConnectorSettings()
    if venue_factory is None:
        from connectors.factory import create_venues  # ccxt loads only when a venue is built

        venues: list[Venue] = [
            v for vid in venue_ids for v in create_venues(vid, settings, seed=seed)
        ]
    else:
        venues = [v for vid in venue_ids for v in venue_factory(vid)]
    out = Snapshot()
    try:
        for venue in venues:
            currencies = venue_currencies(venue.id, settings)
            instruments = select(await venue.load_instruments(), assets, currencies)
            now = venue_now_ms(venue)
            out.facts.extend(instrument_facts(i, now) for i in instruments)
            perps = [i.symbol for i in instruments if i.market_type is MarketType.PERP]
            if perps:
                for item in await venue.fetch_funding_rates(perps):
                    if isinstance(item, FundingRateUpdate):
                        out.funding.append(item)
                    else:
                        out.refused_funding.append(item)
            else:
                out.venues_without_perps.append(venue.id)
            results = await asyncio.gather(
                *(venue.fetch_order_book(i.symbol, depth) for i in instruments),
                return_exceptions=True,
            )
            out.books.extend(r for r in results if isinstance(r, BookSnapshot))
    finally:
        for venue in venues:
            await venue.close()
    return out


@dataclass(frozen=True, slots=True)
class ScanReport:
    """What ``fundingflow scan`` shows: the ranked rows, the funding the connectors refused
    (a refused perp has no funding leg in the ranking) and the venues that listed no perp."""

    rows: list[ScanRow]
    refused_funding: dict[str, int]
    """Refused funding updates by dead-letter reason."""
    refusal_details: tuple[str, ...]
    """One line per refusal: venue, symbol and why."""
    venues_without_perps: tuple[str, ...]

    def refusal_lines(self) -> list[str]:
        """The refusals and missing perps in words, for the terminal's error stream."""
        out = []
        if self.refused_funding:
            reasons = ", ".join(f"{r} x{n}" for r, n in self.refused_funding.items())
            out.append(f"refused funding: {sum(self.refused_funding.values())} ({reasons})")
            out += [f"  {line}" for line in self.refusal_details]
        out += [
            f"no perps on {venue} in its quote/settle currencies "
            "(FUNDINGFLOW_CONNECTORS__VENUES__<ID>__QUOTE / __SETTLE)"
            for venue in self.venues_without_perps
        ]
        return out


def scan_report(
    venue_ids: Sequence[str],
    assets: Sequence[str] | None = None,
    settings: MarketSettings | None = None,
    seed: int = 0,
    all_candidates: bool = False,
    connectors: ConnectorSettings | None = None,
    venue_factory: Callable[[str], Sequence[Venue]] | None = None,
) -> ScanReport:
    """Snapshot the venues and rank the opportunities (``fundingflow scan``);
    refused funding is counted with its reasons, never dropped silently."""
    snap = asyncio.run(
        snapshot(venue_ids, assets, seed=seed, connectors=connectors, venue_factory=venue_factory)
    )
    base = settings or MarketSettings(stale_after_ms=120_000)
    return ScanReport(
        rows=rank(snap.books, snap.funding, base, all_candidates, snap.facts),
        refused_funding=snap.refusals_by_reason(),
        refusal_details=tuple(f"{r.exchange} {r.symbol}: {r.detail}" for r in snap.refused_funding),
        venues_without_perps=tuple(snap.venues_without_perps),
    )


def scan(
    venue_ids: Sequence[str],
    assets: Sequence[str] | None = None,
    settings: MarketSettings | None = None,
    seed: int = 0,
    all_candidates: bool = False,
) -> list[ScanRow]:
    """The ranked rows of :func:`scan_report` with default connector settings."""
    return scan_report(venue_ids, assets, settings, seed, all_candidates).rows


def table_rows(rows: Sequence[ScanRow]) -> list[list[str]]:
    """Rows as text cells (type, asset, legs, funding APRs, net APR, break-even, size)."""

    def pct(x: Decimal | None) -> str:
        return "-" if x is None else f"{x * 100:.2f}%"

    return [
        [
            r.type,
            r.asset,
            r.long_leg,
            r.short_leg,
            pct(r.funding_apr_long),
            pct(r.funding_apr_short),
            pct(r.net_apr),
            "-" if r.break_even_hours is None else f"{r.break_even_hours:.1f}",
            f"{r.max_size_base:.6g}",
            f"{r.max_notional_quote:.2f}",
            "; ".join(r.blocked_by) or "opens",
        ]
        for r in rows
    ]


TABLE_COLUMNS = (
    "type",
    "asset",
    "long",
    "short",
    "funding APR long",
    "funding APR short",
    "net APR",
    "break-even h",
    "max size",
    "max notional",
    "why not open",
)
