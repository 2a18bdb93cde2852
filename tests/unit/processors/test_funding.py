"""Hand-computed examples for processors.funding and FundingRate (units)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from processors import funding
from processors.funding import FundingPredictor
from processors.funding import RealizedFunding
from processors.funding import VenuePrediction
from processors.funding import apply
from processors.funding import break_even_ms
from processors.funding import derive_interval_ms
from processors.funding import expected_funding_cash
from processors.funding import funding_cash_quote
from processors.funding import next_settlement_ms
from processors.funding import settlement_times
from processors.units import FundingRate
from processors.units import FundingSchedule
from schemas.errors import InvalidEvent
from schemas.records.common import PositionSide
from schemas.records.dlq import DeadLetterReason as R

D = Decimal

H = 3_600_000
MARK = D(100)


def test_one_bp_per_8h_is_10_95_percent_simple_apr() -> None:
    rate = FundingRate(D("0.0001"), 8 * H)
    assert rate.apr_simple() == D("0.1095")
    assert rate.per_hour() == D("0.0000125")
    assert rate.per(H) == D("0.0000125")
    assert rate.periods_per_year == 1095


def test_one_bp_per_1h_is_87_6_percent_simple_apr() -> None:
    assert FundingRate(D("0.0001"), H).apr_simple() == D("0.876")


def test_negative_rate_annualizes_negative() -> None:
    assert FundingRate(D("-0.0002"), 4 * H).apr_simple() == D("-0.438")


def test_compounded_apr_is_named_and_exceeds_simple() -> None:
    rate = FundingRate(D("0.0001"), 8 * H)
    expected = math.expm1(1095 * math.log1p(0.0001))
    assert float(rate.apr_compounded()) == pytest.approx(expected, rel=1e-12)
    assert rate.apr_compounded() > rate.apr_simple()


def test_compounded_apr_with_non_integer_periods() -> None:
    rate = FundingRate(D("0.0001"), 7 * H)
    expected = math.expm1(8760 / 7 * math.log1p(0.0001))
    assert float(rate.apr_compounded()) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("interval_ms", [0, -H])
def test_non_positive_interval_is_invalid(interval_ms: int) -> None:
    with pytest.raises(InvalidEvent) as err:
        FundingRate(D("0.0001"), interval_ms)
    assert err.value.reason is R.MISSING_FUNDING_INTERVAL


def test_nan_rate_is_invalid() -> None:
    with pytest.raises(InvalidEvent):
        FundingRate(D("NaN"), H)


def test_settlements_of_8h_venue_in_a_day_include_the_end() -> None:
    schedule = FundingSchedule(
        FundingRate(D("0.0001"), 8 * H), next_funding_time_ms=8 * H, mark_price=MARK
    )
    assert settlement_times(schedule, 0, 24 * H) == (8 * H, 16 * H, 24 * H)


def test_a_settlement_at_the_start_is_not_counted() -> None:
    schedule = FundingSchedule(
        FundingRate(D("0.0001"), 8 * H), next_funding_time_ms=0, mark_price=MARK
    )
    # it settles on positions held at 0, before an entry at 0 fills; the grid goes on
    assert settlement_times(schedule, 0, 24 * H) == (8 * H, 16 * H, 24 * H)


def test_settlements_of_1h_venue_and_8h_venue_over_the_same_window() -> None:
    hourly = FundingSchedule(FundingRate(D("0.00001"), H), next_funding_time_ms=H, mark_price=MARK)
    eight = FundingSchedule(
        FundingRate(D("0.0001"), 8 * H), next_funding_time_ms=4 * H, mark_price=MARK
    )
    assert len(settlement_times(hourly, 0, 24 * H)) == 24  # 1 h .. 24 h
    assert settlement_times(eight, 0, 24 * H) == (4 * H, 12 * H, 20 * H)


def test_stale_next_funding_time_rolls_forward_on_its_grid() -> None:
    schedule = FundingSchedule(
        FundingRate(D("0.0001"), 8 * H), next_funding_time_ms=0, mark_price=MARK
    )
    assert settlement_times(schedule, 10 * H, 8 * H) == (16 * H,)
    assert next_settlement_ms(schedule, 10 * H) == 16 * H
    assert next_settlement_ms(schedule, 16 * H) == 16 * H


def test_a_settlement_exactly_at_the_horizon_edge_is_counted() -> None:
    schedule = FundingSchedule(FundingRate(D("0.0001"), 8 * H), 48 * H, mark_price=MARK)
    assert settlement_times(schedule, 0, 48 * H) == (48 * H,)
    assert settlement_times(schedule, 0, 48 * H - 1) == ()
    assert settlement_times(schedule, 48 * H, 0) == ()  # nor at the start of an empty horizon


def test_break_even_walks_both_calendars() -> None:
    # short hourly leg receives 1 a settlement, long 8 h leg pays 4, both from 1 h; costs 8:
    # cumulative -3 at 1 h, 4 at 8 h, 1 at 9 h, 8 at 16 h -> 16 h
    hourly = FundingSchedule(FundingRate(D("0.0001"), H), H, mark_price=MARK)
    eight = FundingSchedule(FundingRate(D("0.0004"), 8 * H), H, mark_price=MARK)
    assert break_even_ms([(hourly, D(1)), (eight, D(-4))], 0, D(8)) == 16 * H
    assert break_even_ms([(hourly, D(1)), (eight, D(-8))], 0, D(8)) is None  # carry 0
    assert break_even_ms([(hourly, D(1))], 0, D(0)) == 0


def test_break_even_beyond_the_search_budget_is_the_safe_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hourly = FundingSchedule(FundingRate(D("0.0001"), H), H, mark_price=MARK)
    eight = FundingSchedule(FundingRate(D("0.0004"), 8 * H), H, mark_price=MARK)
    flows = [(hourly, D(1)), (eight, D("-7.9"))]  # carry 0.0125 an hour
    exact = break_even_ms(flows, 0, D(8))
    monkeypatch.setattr(funding, "MAX_BREAK_EVEN_SETTLEMENTS", 10)
    bound = break_even_ms(flows, 0, D(8))
    assert exact is not None
    assert bound is not None
    assert bound >= exact


def test_positive_rate_longs_pay_shorts() -> None:
    assert funding_cash_quote(D("0.0001"), PositionSide.LONG, D(10_000)) == D(-1)
    assert funding_cash_quote(D("0.0001"), PositionSide.SHORT, D(10_000)) == D(1)


def test_negative_rate_shorts_pay_longs() -> None:
    assert funding_cash_quote(D("-0.0001"), PositionSide.LONG, D(10_000)) == D(1)
    assert funding_cash_quote(D("-0.0001"), PositionSide.SHORT, D(10_000)) == D(-1)


def test_expected_funding_counts_the_venue_settlements() -> None:
    schedule = FundingSchedule(
        FundingRate(D("0.0001"), 8 * H), next_funding_time_ms=0, mark_price=MARK
    )
    # 100 base at a mark of 100: 1 quote per settlement
    short = expected_funding_cash(schedule, PositionSide.SHORT, D(100), 0, 24 * H)
    long = expected_funding_cash(schedule, PositionSide.LONG, D(100), 0, 24 * H)
    assert (short.settlements, short.cash_quote, short.received_quote) == (3, D(3), D(3))
    assert (long.cash_quote, long.paid_quote, long.received_quote) == (D(-3), D(3), D(0))


def test_expected_funding_is_rate_times_mark_times_size() -> None:
    # 0.5 BTC at a mark of 20,000 is 10,000 of notional: 0.0001 * 10,000 = 1 quote a settlement
    schedule = FundingSchedule(FundingRate(D("0.0001"), 8 * H), 8 * H, mark_price=D(20_000))
    cash = expected_funding_cash(schedule, PositionSide.SHORT, D("0.5"), 0, 24 * H)
    assert cash.settlements == 3  # 8 h, 16 h, 24 h
    assert cash.cash_quote == D(3)


@pytest.mark.parametrize("mark", ["0", "-1", "NaN"])
def test_non_positive_mark_is_invalid(mark: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        FundingSchedule(FundingRate(D("0.0001"), 8 * H), 0, mark_price=D(mark))
    expected = R.NAN_OR_INFINITE if mark == "NaN" else R.NON_POSITIVE_PRICE
    assert err.value.reason is expected


def test_predictor_is_empty_until_it_sees_a_rate() -> None:
    assert FundingPredictor().predict() is None


def test_predictor_ewma_and_prediction_error() -> None:
    p = FundingPredictor(alpha=D("0.5"))
    p = p.observe(RealizedFunding(FundingRate(D("0.0001"), 8 * H), 8 * H))
    assert p.predict() == FundingRate(D("0.0001"), 8 * H)
    assert p.errors == 0
    p = p.observe(RealizedFunding(FundingRate(D("0.0003"), 8 * H), 16 * H))
    assert p.last_error == D("0.0002")
    assert p.predict() == FundingRate(D("0.0002"), 8 * H)
    assert p.mean_abs_error == D("0.0002")


def test_venue_prediction_wins_until_the_settlement() -> None:
    p = FundingPredictor(alpha=D("0.5"))
    p = apply(p, RealizedFunding(FundingRate(D("0.0001"), 8 * H), 8 * H))
    p = apply(p, VenuePrediction(FundingRate(D("0.0005"), 8 * H), 9 * H))
    assert p.predict() == FundingRate(D("0.0005"), 8 * H)
    p = apply(p, RealizedFunding(FundingRate(D("0.0004"), 8 * H), 16 * H))
    assert p.last_error == D("-0.0001")
    assert p.venue_prediction is None
    assert p.predict() == FundingRate(D("0.00025"), 8 * H)
    assert p.rmse == D("0.0001")


def test_predictor_ignores_a_replayed_settlement() -> None:
    p = FundingPredictor().observe(RealizedFunding(FundingRate(D("0.0001"), 8 * H), 8 * H))
    assert p.observe(RealizedFunding(FundingRate(D("0.0009"), 8 * H), 8 * H)) is p


def test_predictor_follows_an_interval_change() -> None:
    p = FundingPredictor(alpha=D(1)).observe(RealizedFunding(FundingRate(D("0.0008"), 8 * H), 0))
    p = p.observe(RealizedFunding(FundingRate(D("0.0001"), H), H))
    assert p.last_error == D(0)  # 0.0008/8h predicted 0.0001/1h exactly
    assert p.predict() == FundingRate(D("0.0001"), H)


def test_predictor_rejects_a_bad_alpha() -> None:
    with pytest.raises(ValueError, match="alpha"):
        FundingPredictor(alpha=D(0))


@pytest.mark.parametrize(
    ("times_h", "expected_h"),
    [
        ([0, 8, 16], 8),
        ([0, 8, 24, 32], 8),  # a missing record lengthens one gap only
        ([0, 8, 16, 20, 24], 4),  # the venue moved from 8h to 4h
        ([0, 1, 2, 3], 1),
    ],
)
def test_interval_derived_from_settlement_timestamps(times_h: list[int], expected_h: int) -> None:
    assert derive_interval_ms([t * H for t in times_h]) == expected_h * H


def test_interval_tolerates_late_stamps() -> None:
    assert derive_interval_ms([0, 8 * H + 5, 16 * H + 1]) == 8 * H


@pytest.mark.parametrize("times", [[], [8 * H], [8 * H, 8 * H], [8 * H, 0]])
def test_unknown_interval_raises_never_defaults(times: list[int]) -> None:
    with pytest.raises(InvalidEvent) as err:
        derive_interval_ms(times)
    assert err.value.reason in {R.MISSING_FUNDING_INTERVAL, R.OUT_OF_ORDER_SEQUENCE}


def test_next_settlement_far_ahead_is_kept() -> None:
    schedule = FundingSchedule(
        FundingRate(D("0.0001"), H), next_funding_time_ms=3 * H, mark_price=MARK
    )
    assert next_settlement_ms(schedule, 0) == 3 * H
