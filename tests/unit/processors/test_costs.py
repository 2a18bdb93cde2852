"""The cost model on a spot-perp carry, every figure computed by hand."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from processors.costs import CostLeg
from processors.costs import InsufficientDepth
from processors.costs import estimate_costs
from processors.units import Book
from processors.units import BookLevel
from processors.units import BorrowRate
from processors.units import FeeSchedule
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import InstrumentKey
from processors.units import InstrumentState
from processors.units import Liquidity
from schemas.records.common import MarketType
from schemas.records.common import PositionSide

D = Decimal

H = 3_600_000


def _book(bid: str, ask: str, size: str = "10") -> Book:
    return Book(bids=(BookLevel(D(bid), D(size)),), asks=(BookLevel(D(ask), D(size)),), ts_ms=0)


SPOT = InstrumentState(
    InstrumentKey("x", "BTC/USDT"),
    MarketType.SPOT,
    _book("99.9", "100.1"),
    FeeSchedule(maker=D("0.0008"), taker=D("0.001")),
)
FUNDING = FundingSchedule(FundingRate(D("0.0001"), 8 * H), 8 * H, mark_price=D(101))  # = mid
PERP = InstrumentState(
    InstrumentKey("x", "BTC/USDT:USDT"),
    MarketType.PERP,
    _book("100.9", "101.1"),
    FeeSchedule(maker=D("0.0002"), taker=D("0.0005")),
    FUNDING,
)
CARRY = [CostLeg(SPOT, PositionSide.LONG), CostLeg(PERP, PositionSide.SHORT)]


def test_fees_on_both_legs_entry_and_exit() -> None:
    c = estimate_costs(CARRY, D(1), 0, 24 * H)
    # entry: buy spot at 100.1 * 0.001 + sell perp at 100.9 * 0.0005
    assert c.quote.entry_fees == D("0.1001") + D("0.05045")
    # exit: sell spot at 99.9 * 0.001 + buy perp at 101.1 * 0.0005
    assert c.quote.exit_fees == D("0.0999") + D("0.05055")
    assert c.quote.entry_slippage == c.quote.exit_slippage == 0
    assert c.quote.spread_cost == D("0.4")  # (0.2 + 0.2) * 1
    assert c.quote.one_off == D("0.701")


def test_funding_over_the_horizon_and_break_even() -> None:
    c = estimate_costs(CARRY, D(1), 0, 24 * H)
    # settlements at 8h, 16h and 24h (the horizon's end counts); the short perp receives
    # 0.0001 * 101 each
    assert c.funding_received_quote == D("0.0303")
    assert c.quote.funding_paid == 0
    assert c.leg_funding[0] is None
    assert c.leg_funding[1] is not None
    assert c.leg_funding[1].settlements == 3
    # carry per hour = 0.0001 / 8 * 101 (steady, for comparison)
    assert c.net_carry_per_hour_quote == D("0.0012625")
    # on the settlement calendar: ceil(0.701 / 0.0101) = 70 settlements, the 70th at
    # 8 h + 69 * 8 h = 560 h (the steady rate would say 555.2 h, between two settlements)
    assert c.break_even_hours == D(560)
    assert c.break_even_intervals == 70


def test_funding_and_carry_are_priced_on_the_mark_not_the_mid() -> None:
    # same perp, funding record marked at 100.5 while the book mid is 101
    marked = replace(PERP, funding=replace(FUNDING, mark_price=D("100.5")))
    c = estimate_costs(
        [CostLeg(SPOT, PositionSide.LONG), CostLeg(marked, PositionSide.SHORT)], D(1), 0, 24 * H
    )
    # 3 settlements * 0.0001 * 100.5 * 1 (the mid would give 0.0303)
    assert c.funding_received_quote == D("0.03015")
    assert c.net_carry_per_hour_quote == D("0.00125625")  # 0.0001 / 8 * 100.5
    assert c.notional_quote == D("100.5")  # fees and bps stay on the book: (100 + 101) / 2
    assert c.break_even_hours == D(560)  # ceil(0.701 / 0.01005) = 70 settlements


def test_a_convergence_trade_has_no_break_even() -> None:
    # the same legs priced as a cross-exchange convergence trade: the carry per hour is still
    # reported (0.0012625) but break-even on carry alone (560 h) is not defined for it
    c = estimate_costs(CARRY, D(1), 0, 24 * H, carry_trade=False)
    assert c.net_carry_per_hour_quote == D("0.0012625")
    assert c.break_even_hours is None
    assert c.break_even_intervals is None


def test_a_48h_horizon_on_a_settlement_boundary_counts_all_6_settlements() -> None:
    # start 0 is a settlement boundary (the next is 8 h ahead); the horizon (0, 48 h] holds
    # 8, 16, 24, 32, 40 and 48 h: 6 * 0.0001 * 101 = 0.0606 = the steady 0.0012625 * 48 h
    # (the half-open [0, 48 h) counted 5, 0.0505, while break-even used the steady rate)
    c = estimate_costs(CARRY, D(1), 0, 48 * H)
    assert c.leg_funding[1] is not None
    assert c.leg_funding[1].settlements == 6
    assert c.funding_received_quote == D("0.0606")
    assert c.funding_received_quote == c.net_carry_per_hour_quote * 48
    # one millisecond short of the edge, the 48 h settlement is out
    assert estimate_costs(CARRY, D(1), 0, 48 * H - 1).funding_received_quote == D("0.0505")


def test_components_in_bps_of_the_mean_notional() -> None:
    c = estimate_costs(CARRY, D(1), 0, 24 * H)
    assert c.notional_quote == D("100.5")
    assert c.bps.spread_cost == D("0.4") / D("100.5") * 10_000
    assert c.bps.total == pytest.approx(c.quote.total / D("100.5") * 10_000)


def test_paying_leg_funding_is_a_cost() -> None:
    free_borrow = replace(SPOT, borrow=BorrowRate(D(0), 24 * H))
    legs = [CostLeg(free_borrow, PositionSide.SHORT), CostLeg(PERP, PositionSide.LONG)]
    c = estimate_costs(legs, D(1), 0, 24 * H)
    assert c.quote.funding_paid == D("0.0303")
    assert c.funding_received_quote == 0
    assert c.net_carry_per_hour_quote < 0
    assert c.break_even_hours is None
    assert c.break_even_intervals is None


def test_slippage_through_three_levels_entry_and_exit() -> None:
    book = Book(
        bids=(BookLevel(D(99), D(1)), BookLevel(D(98), D(1)), BookLevel(D(97), D(2))),
        asks=(BookLevel(D(100), D(1)), BookLevel(D(101), D(2)), BookLevel(D(102), D(3))),
        ts_ms=0,
    )
    free = FeeSchedule(D(0), D(0))
    state = InstrumentState(InstrumentKey("y", "BTC/USDT"), MarketType.SPOT, book, free)
    c = estimate_costs([CostLeg(state, PositionSide.LONG)], D(4), 0, H)
    assert c.quote.entry_slippage == D(4)  # 404 - 400
    assert c.quote.exit_slippage == D(1 + 2 * 2)  # 396 - (99 + 98 + 97 + 97) = 5
    assert c.quote.spread_cost == D(4)  # (100 - 99) * 4


def test_maker_rebate_is_reported_apart_and_never_a_negative_cost() -> None:
    rebating = InstrumentState(
        PERP.key, PERP.kind, PERP.book, FeeSchedule(D("-0.0001"), D("0.0005")), PERP.funding
    )
    legs = [CostLeg(rebating, PositionSide.SHORT, entry_liquidity=Liquidity.MAKER)]
    c = estimate_costs(legs, D(1), 0, H)
    assert c.quote.entry_fees == 0
    assert c.rebate_quote == D("0.01009")
    assert c.quote.exit_fees == D("0.05055")


def test_insufficient_depth_raises() -> None:
    with pytest.raises(InsufficientDepth):
        estimate_costs(CARRY, D(11), 0, H)


def test_non_positive_size_is_refused() -> None:
    with pytest.raises(ValueError, match="positive size"):
        estimate_costs(CARRY, D(0), 0, H)


REVERSE_FUNDING = FundingSchedule(FundingRate(D("-0.0003"), 8 * H), 8 * H, mark_price=D(101))


def _reverse(daily_borrow: str) -> list[CostLeg]:
    spot = replace(SPOT, borrow=BorrowRate(D(daily_borrow), 24 * H))
    perp = replace(PERP, funding=REVERSE_FUNDING)
    return [CostLeg(spot, PositionSide.SHORT), CostLeg(perp, PositionSide.LONG)]


def test_reverse_carry_pays_interest_on_the_borrowed_coins() -> None:
    c = estimate_costs(_reverse("0.0012"), D(1), 0, 24 * H)
    # 0.0012 a day = 0.00005 an hour of the 100 mid: 0.005 quote per started hour, 24 of them
    assert c.quote.borrow == D("0.12")
    # the long perp receives 0.0003 x mark 101 at 8 h, 16 h and 24 h
    assert c.funding_received_quote == D("0.0909")
    assert c.quote.total == c.quote.one_off + D("0.12")
    assert c.total_net_quote == c.quote.one_off + D("0.12") - D("0.0909")
    # 0.0303 / 8 h received = 0.0037875 an hour < 0.005 interest: never breaks even
    assert c.net_carry_per_hour_quote == D("0.0037875") - D("0.005")
    assert c.break_even_hours is None


def test_reverse_carry_break_even_counts_every_hourly_charge() -> None:
    c = estimate_costs(_reverse("0.00024"), D(1), 0, 24 * H)
    assert c.quote.borrow == D("0.024")  # 0.001 quote an hour
    # one-off: fees 0.0999 + 0.1001 + 0.05055 + 0.05045 = 0.301, spread 0.2 + 0.2 = 0.4;
    # the first hour's interest is due at the borrow: 0.702 to earn back. After k funding
    # settlements (8k h, 8k hourly charges): 0.0303 k - 0.001 x 8k = 0.0223 k >= 0.702 first
    # at k = 32, 256 h.
    assert c.quote.one_off == D("0.701")
    assert c.break_even_hours == 256
    assert c.break_even_intervals == 32


def test_a_short_spot_leg_without_a_borrow_rate_is_refused() -> None:
    legs = [CostLeg(SPOT, PositionSide.SHORT), CostLeg(PERP, PositionSide.LONG)]
    with pytest.raises(ValueError, match="borrow rate"):
        estimate_costs(legs, D(1), 0, 24 * H)
