"""``fundingflow scan``: the same processors on one snapshot of the venues (no Kafka).

Fetches instruments, funding rates and order books once per venue through the connectors'
venue protocol (ccxt venues, or the simulated ``sim-*`` venues), folds them through the market
reducer, runs one lifecycle step per asset and ranks what would open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from decimal import Decimal
from typing import Any

from processors.detection import detect
from processors.detection import evaluate
from processors.market_state import MarketReducer
from processors.opportunities import OpportunityBook
from processors.opportunities import step
from processors.settings import FeeRates
from processors.settings import MarketSettings
from schemas.records.arb import SpreadKind
from schemas.records.common import MarketType
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate


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
) -> list[ScanRow]:
    """Rows of everything that opens on this snapshot (every evaluated candidate when
    ``all_candidates``), best net APR first. When nothing opens, the best candidates are
    returned anyway, each with ``blocked_by`` saying why it does not open."""
    rows = _rank(books, funding, settings, all_candidates)
    if rows or all_candidates:
        return rows
    return _rank(books, funding, settings, True)[:BEST_WHEN_NONE_OPENS]


BEST_WHEN_NONE_OPENS = 10


def _rank(
    books: Sequence[BookSnapshot],
    funding: Sequence[FundingRateUpdate],
    settings: MarketSettings,
    all_candidates: bool,
) -> list[ScanRow]:
    reducer = MarketReducer(settings.model_copy(update={"min_eval_interval_ms": 2**62}))
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


async def snapshot(
    venue_ids: Sequence[str],
    assets: Sequence[str] | None = None,
    depth: int = 20,
    quote: str = "USDT",
    seed: int = 0,
) -> tuple[list[BookSnapshot], list[FundingRateUpdate], dict[str, FeeRates]]:
    """One fetch of books and funding for every spot and linear perp of the wanted assets."""
    from connectors.config import ConnectorSettings
    from connectors.factory import create_venues

    settings = ConnectorSettings()
    venues = [v for vid in venue_ids for v in create_venues(vid, settings, seed=seed)]
    books: list[BookSnapshot] = []
    funding: list[FundingRateUpdate] = []
    fees: dict[str, FeeRates] = {}
    try:
        for venue in venues:
            instruments = [
                i
                for i in await venue.load_instruments()
                if i.active
                and i.quote == quote
                and i.market_type in (MarketType.SPOT, MarketType.PERP)
                and (not assets or i.base in assets)
                and (i.market_type is MarketType.SPOT or i.settle == quote)
            ]
            for i in instruments:
                kind = i.market_type
                if i.taker_fee is not None:
                    maker = i.maker_fee if i.maker_fee is not None else i.taker_fee
                    fees.setdefault(
                        f"{venue.id}:{kind.value}", FeeRates(maker=maker, taker=i.taker_fee)
                    )
            perps = [i.symbol for i in instruments if i.market_type is MarketType.PERP]
            if perps:
                items = await venue.fetch_funding_rates(perps)
                funding.extend(x for x in items if isinstance(x, FundingRateUpdate))
            results = await asyncio.gather(
                *(venue.fetch_order_book(i.symbol, depth) for i in instruments),
                return_exceptions=True,
            )
            books.extend(r for r in results if isinstance(r, BookSnapshot))
    finally:
        for venue in venues:
            await venue.close()
    return books, funding, fees


def scan(
    venue_ids: Sequence[str],
    assets: Sequence[str] | None = None,
    settings: MarketSettings | None = None,
    seed: int = 0,
    all_candidates: bool = False,
) -> list[ScanRow]:
    """Snapshot the venues and rank the opportunities (the ``fundingflow scan`` command)."""
    books, funding, fees = asyncio.run(snapshot(venue_ids, assets, seed=seed))
    base = settings or MarketSettings(stale_after_ms=120_000)
    merged = base.model_copy(update={"venue_fees": {**fees, **base.venue_fees}})
    return rank(books, funding, merged, all_candidates)


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
