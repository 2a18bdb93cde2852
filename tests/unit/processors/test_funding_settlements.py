"""Funding settlements, pure: a fill placed on the venue's clock, the position held at a
settlement, expected against paid within tolerance."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from processors.funding_settlements import ClockMark
from processors.funding_settlements import FundingTolerance
from processors.funding_settlements import check
from processors.funding_settlements import held_at
from processors.funding_settlements import venue_time
from processors.portfolio import funding_event_id
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Money
from schemas.records.common import Side
from schemas.records.execution import Fill
from schemas.records.execution import LiquidityRole
from schemas.records.portfolio import FundingPaid

ETH = InstrumentRef(exchange="sim-okx", symbol="ETH/USDT:USDT", market_type=MarketType.PERP)
KEY = ("sim-okx", "ETH/USDT:USDT")
HOUR = 3_600_000


def fill(side: Side, size: str, local_ms: int, instrument: InstrumentRef = ETH) -> Fill:
    return Fill(
        envelope=Envelope(event_id=f"f{local_ms}", event_time_ms=local_ms, ingest_time_ms=local_ms),
        fill_id=f"f{local_ms}",
        client_order_id="c",
        instrument=instrument,
        side=side,
        price=Decimal(3000),
        size_base=Decimal(size),
        fee=Money(amount=Decimal(0), currency="USDT"),
        liquidity=LiquidityRole.TAKER,
    )


def paid(amount: str, *, rate: str = "0.0001", at_ms: int = 8 * HOUR) -> FundingPaid:
    return FundingPaid(
        envelope=Envelope(
            event_id=funding_event_id(ETH, at_ms), event_time_ms=at_ms, ingest_time_ms=at_ms
        ),
        instrument=ETH,
        funding_rate=Decimal(rate),
        funding_interval_ms=8 * HOUR,
        funding_time_ms=at_ms,
        net_size_base=Decimal(0),
        mark_price=Decimal(3000),
        amount_quote=Decimal(amount),
        quote_currency="USDT",
    )


def test_a_fill_between_marks_is_placed_on_the_venue_clock_in_proportion() -> None:
    marks = [ClockMark(1_000, 0), ClockMark(2_000, 16 * HOUR)]  # a paper world, fast
    assert venue_time(1_500, marks) == 8 * HOUR
    assert venue_time(1_000, marks) == 0
    assert venue_time(2_000, marks) == 16 * HOUR


def test_outside_the_marks_the_nearest_offset_holds() -> None:
    marks = [ClockMark(1_000, 50_000), ClockMark(2_000, 60_000)]
    assert venue_time(900, marks) == 49_900
    assert venue_time(2_100, marks) == 60_100
    assert venue_time(1_234, []) == 1_234  # no marks: one clock


@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=6,
        unique_by=lambda m: m[0],
    ),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)  # fmt: skip
def test_venue_time_never_runs_backwards(raw: list[tuple[int, int]], a: int, b: int) -> None:
    venue = sorted(v for _, v in raw)  # a venue's clock never goes back either
    marks = [ClockMark(local, v) for (local, _), v in zip(sorted(raw), venue, strict=True)]
    low, high = min(a, b), max(a, b)
    assert venue_time(low, marks) <= venue_time(high, marks)


def test_held_at_counts_the_fills_before_the_settlement_only() -> None:
    marks = [ClockMark(0, 0), ClockMark(16, 16 * HOUR)]  # one local ms is one venue hour
    other = InstrumentRef(exchange="sim-bybit", symbol="ETH/USDT:USDT", market_type=MarketType.PERP)
    fills = [fill(Side.SELL, "2", 1), fill(Side.SELL, "1", 9), fill(Side.BUY, "5", 2, other)]
    assert held_at(fills, KEY, 8 * HOUR, marks) == Decimal(-2)
    assert held_at(fills, KEY, 16 * HOUR, marks) == Decimal(-3)
    assert held_at(fills, KEY, 0, marks) == 0


def test_paid_as_expected_is_within_tolerance() -> None:
    result = check(paid("0.6"), Decimal(-2), FundingTolerance())  # short 2 receives 0.6
    assert result.within_tolerance
    assert result.expected.amount_quote == Decimal("0.6")
    assert result.difference_quote == 0


def test_paid_on_another_position_is_a_mismatch() -> None:
    result = check(paid("1.5"), Decimal(-2), FundingTolerance())
    assert not result.within_tolerance
    assert result.difference_quote == Decimal("0.9")
    assert "paid 1.5 USDT, expected 0.6" in result.describe()


def test_twin_a_tolerance_wide_enough_lets_the_mismatch_through() -> None:
    assert check(paid("1.5"), Decimal(-2), FundingTolerance(quote=Decimal(1))).within_tolerance


def test_the_tolerance_is_the_larger_of_absolute_and_relative() -> None:
    tol = FundingTolerance(quote=Decimal("0.01"), bps=Decimal(10))
    assert tol.allows(Decimal(100), Decimal("0.1"))  # 10 bps of 100
    assert not tol.allows(Decimal(100), Decimal("0.11"))
    assert tol.allows(Decimal(1), Decimal("0.01"))  # the absolute floor
    assert not tol.allows(Decimal(1), Decimal("0.011"))


def test_a_long_pays_at_a_positive_rate() -> None:
    result = check(paid("-0.6"), Decimal(2), FundingTolerance())
    assert result.within_tolerance
    assert result.expected.amount_quote == Decimal("-0.6")
