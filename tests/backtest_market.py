"""A hand-checkable market for backtest tests: two perps with constant funding and books.

``ex-a`` and ``ex-b`` list ``AAA/USDT:USDT`` (1-base contracts, step 0.001, taker 0.0005) at a
constant mid of 6000 (bid 5999.7 / ask 6000.3, 5 base a level) for ``hours`` from ``T``: every
4 minutes ex-a's funding, its book 300 ms later, then ex-b's at 600 and 900 ms (the reducer
evaluates at most once per 250 ms of event time). ex-a pays 0.0001 and ex-b 0.002 per 8 h,
settling at T + 8 h, T + 16 h, T + 24 h. The perp-perp carry (long ex-a, short ex-b) opens at
T + 900 ms at 10,000 quote / 6000 = 1.666 base and is held to the end:

- funding per settlement: ex-a -0.0001 * 1.666 * 6000 = -0.9996, ex-b +0.002 * 1.666 * 6000 =
  +19.992, net 18.9924; three settlements: **56.9772**;
- fees: 0.0005 * 1.666 * (6000.3 + 5999.7) on entry, the same on exit: **19.992**;
- price: each leg crosses the 0.6 spread once: 2 * -0.6 * 1.666 = **-1.9992**;
- total: 56.9772 - 19.992 - 1.9992 = **34.986**.
"""

from __future__ import annotations

from decimal import Decimal

from benchmarks import synthetic as syn
from schemas.avro_record import AvroRecord
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.md import FeeSource
from schemas.records.md import InstrumentFacts

T = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on the 8 h grid
SYM = "AAA/USDT:USDT"
HOUR = 3_600_000
STEP = 240_000
FUNDING = Decimal("56.9772")
FEES = Decimal("19.992")
PRICE = Decimal("-1.9992")
TOTAL = Decimal("34.986")
RATES = {"ex-a": "0.0001", "ex-b": "0.002"}


def facts(venue: str) -> InstrumentFacts:
    t = T - 1_000
    return InstrumentFacts(
        envelope=Envelope(event_id=f"facts-{venue}", event_time_ms=t, ingest_time_ms=t),
        instrument=InstrumentRef(exchange=venue, symbol=SYM, market_type=MarketType.PERP),
        venue_symbol="AAAUSDT",
        settle="USDT",
        contract_size_base=Decimal(1),
        amount_step=Decimal("0.001"),
        min_amount=Decimal("0.001"),
        price_tick=Decimal("0.1"),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0005"),
        fee_source=FeeSource.VENUE,
    )


def market(hours: int = 24, level_size: Decimal = Decimal(5)) -> list[AvroRecord]:
    """Facts, then every 4 minutes: funding and book of ex-a, then of ex-b (last at T + hours);
    ``level_size`` base on each level (5 levels, 1 bps = 0.6 apart)."""
    out: list[AvroRecord] = [facts("ex-a"), facts("ex-b")]
    for i, t in enumerate(range(T, T + hours * HOUR + 1, STEP)):
        for lag, (venue, rate) in enumerate(RATES.items()):
            at = t + lag * 600
            out.append(syn.funding(venue, SYM, rate, at, i + 1, mark="6000"))
            book = syn.book(
                venue, SYM, "6000", at + 300, i + 1, half_spread_bps=Decimal("0.5"),
                size=level_size,
            )  # fmt: skip
            out.append(book)
    return out
