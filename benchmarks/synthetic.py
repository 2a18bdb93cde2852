"""Synthetic market-data records for tests, demos and the pipeline benchmark.

Plain builders with explicit times and sequences (no clock, no randomness): a scenario written
with them is fully determined.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from schemas.fixed_point import book_snapshot
from schemas.records.arb import Opportunity
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import PriceLevel
from schemas.records.md import BookSnapshot
from schemas.records.md import FeeSource
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.ops import ControlAction
from schemas.records.ops import ControlCommand

HOUR_MS = 3_600_000
_NS = uuid.UUID("0c8f1d5e-2a77-5b43-9e61-7f3a1b2c4d5e")


def event_id(*parts: object) -> str:
    return str(uuid.uuid5(_NS, "|".join(str(p) for p in parts)))


def envelope(t_ms: int, seq: int | None, *parts: object) -> Envelope:
    return Envelope(
        event_id=event_id(*parts, t_ms, seq),
        event_time_ms=t_ms,
        ingest_time_ms=t_ms,
        source_seq=seq,
    )


def ref(exchange: str, symbol: str) -> InstrumentRef:
    kind = MarketType.PERP if ":" in symbol else MarketType.SPOT
    return InstrumentRef(exchange=exchange, symbol=symbol, market_type=kind)


def book(
    exchange: str,
    symbol: str,
    mid: Decimal | str | float,
    t_ms: int,
    seq: int,
    *,
    half_spread_bps: Decimal = Decimal("0.5"),
    size: Decimal = Decimal(5),
    levels: int = 5,
    level_gap_bps: Decimal = Decimal(1),
) -> BookSnapshot:
    """A symmetric book around ``mid`` with ``levels`` levels of ``size`` base each."""
    m = Decimal(str(mid))
    half = m * half_spread_bps / 10_000
    gap = m * level_gap_bps / 10_000
    q = Decimal("0.000001")
    bids = tuple(
        PriceLevel(price=(m - half - i * gap).quantize(q), size_base=size) for i in range(levels)
    )
    asks = tuple(
        PriceLevel(price=(m + half + i * gap).quantize(q), size_base=size) for i in range(levels)
    )
    return book_snapshot(
        envelope=envelope(t_ms, seq, "book", exchange, symbol),
        instrument=ref(exchange, symbol),
        depth=levels,
        bids=bids,
        asks=asks,
    )


def funding(
    exchange: str,
    symbol: str,
    rate: Decimal | str,
    t_ms: int,
    seq: int,
    *,
    interval_ms: int = 8 * HOUR_MS,
    next_funding_ms: int | None = None,
    mark: Decimal | str = "100",
) -> FundingRateUpdate:
    nxt = (
        next_funding_ms if next_funding_ms is not None else (t_ms // interval_ms + 1) * interval_ms
    )
    return FundingRateUpdate(
        envelope=envelope(t_ms, seq, "funding", exchange, symbol),
        instrument=ref(exchange, symbol),
        funding_rate=Decimal(str(rate)),
        funding_interval_ms=interval_ms,
        next_funding_time_ms=nxt,
        mark_price=Decimal(str(mark)),
        index_price=Decimal(str(mark)),
    )


def facts(exchange: str, symbol: str, t_ms: int) -> InstrumentFacts:
    """A perp's instrument facts (0.1 base contracts, lot 0.001, the venue's fees)."""
    return InstrumentFacts(
        envelope=envelope(t_ms, None, "facts", exchange, symbol),
        instrument=ref(exchange, symbol),
        venue_symbol=symbol.partition(":")[0].replace("/", ""),
        settle="USDT",
        contract_size_base=Decimal("0.1"),
        amount_step=Decimal("0.001"),
        min_amount=Decimal("0.001"),
        price_tick=Decimal("0.000001"),
        maker_fee=Decimal("0.00020"),
        taker_fee=Decimal("0.00050"),
        fee_source=FeeSource.VENUE,
    )


def control(
    action: ControlAction, t_ms: int, *, name: str | None = None, value: str | None = None
) -> ControlCommand:
    return ControlCommand(
        envelope=envelope(t_ms, None, "control", action, name, value),
        action=action,
        actor="test",
        reason=f"{action.value} {name or ''} {value or ''}".strip(),
        name=name,
        value=value,
    )


def random_walk(
    n: int,
    *,
    assets: tuple[str, ...] = ("AAA", "BBB", "CCC", "DDD", "EEE"),
    venues: tuple[str, ...] = ("ex-a", "ex-b", "ex-c"),
    seed: int = 7,
    start_ms: int = 1_767_225_600_000,
    step_ms: int = 20,
    funding_every: int = 10,
    levels: int = 5,
) -> list[tuple[str, BookSnapshot | FundingRateUpdate]]:
    """``n`` market events: perp books (``levels`` per side) and funding (every
    ``funding_every``-th) on every venue of every asset, with mids and rates on seeded random
    walks; times advance ``step_ms``."""
    import random

    rng = random.Random(seed)
    mids = {(a, v): Decimal(100) for a in assets for v in venues}
    rates = {(a, v): Decimal("0.0001") * (i + 1) for a in assets for i, v in enumerate(venues)}
    seqs: dict[tuple[str, str, str], int] = {}
    out: list[tuple[str, BookSnapshot | FundingRateUpdate]] = []
    for i in range(n):
        asset, venue = rng.choice(assets), rng.choice(venues)
        symbol = f"{asset}/USDT:USDT"
        t = start_ms + i * step_ms
        if i % funding_every == 0:
            step = Decimal(rng.randint(-3, 3)) * Decimal("0.0001")
            rates[asset, venue] = max(
                Decimal("-0.003"), min(Decimal("0.003"), rates[asset, venue] + step)
            )
            seq = seqs[asset, venue, "F"] = seqs.get((asset, venue, "F"), 0) + 1
            out.append(("md.funding", funding(venue, symbol, rates[asset, venue], t, seq)))
        else:
            mids[asset, venue] *= 1 + Decimal(rng.randint(-5, 5)) / 10_000
            seq = seqs[asset, venue, "B"] = seqs.get((asset, venue, "B"), 0) + 1
            out.append(("md.book", book(venue, symbol, mids[asset, venue], t, seq, levels=levels)))
    return out


def opened_divergence(asset: str, t_ms: int) -> Opportunity:
    """The OPENED event the market reducer gives for a perp-perp funding divergence on
    ``asset`` (ex-a pays 0.0001, ex-b 0.002, both books at 100), from ``t_ms``."""
    from processors.market_state import MarketReducer
    from processors.settings import MarketSettings

    symbol = f"{asset}/USDT:USDT"
    market = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    records: list[BookSnapshot | FundingRateUpdate] = [
        funding("ex-a", symbol, "0.0001", t_ms, 1),
        funding("ex-b", symbol, "0.002", t_ms, 1),
        book("ex-a", symbol, "100", t_ms + 1, 1),
        book("ex-b", symbol, "100", t_ms + 2, 1),
    ]
    (opened,) = [o for r in records for o in market.apply(r).opportunities]
    return opened
