"""Properties of funding annualization and settlement calendars."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from processors.funding import break_even_ms
from processors.funding import settlement_times
from processors.units import FundingRate
from processors.units import FundingSchedule

D = Decimal

H = 3_600_000
MARK = D(100)
rates = st.decimals(min_value=D("-0.01"), max_value=D("0.01"), places=8)
intervals = st.sampled_from([H, 2 * H, 4 * H, 8 * H]) | st.integers(60_000, 24 * H)


@given(rates, intervals, st.integers(1, 24))
def test_annualization_scales_with_the_interval(rate: D, interval_ms: int, k: int) -> None:
    base = FundingRate(rate, interval_ms)
    # k times the rate over k times the interval is the same annual rate
    assert FundingRate(rate * k, interval_ms * k).apr_simple() == base.apr_simple()
    assert FundingRate(rate * k, interval_ms * k).per_hour() == base.per_hour()
    # the same rate over a k times longer interval annualizes to 1/k
    longer = FundingRate(rate, interval_ms * k).apr_simple()
    assert abs(longer * k - base.apr_simple()) <= D("1e-20")


@given(rates, intervals)
def test_simple_apr_is_per_hour_times_8760_and_keeps_the_sign(rate: D, interval_ms: int) -> None:
    fr = FundingRate(rate, interval_ms)
    assert abs(fr.apr_simple() - fr.per_hour() * 8760) <= D("1e-20")
    assert (fr.apr_simple() > 0) == (rate > 0)


@given(rates.filter(lambda r: r != 0), st.sampled_from([H, 4 * H, 8 * H]))
def test_compounded_apr_is_at_least_simple(rate: D, interval_ms: int) -> None:
    fr = FundingRate(rate, interval_ms)
    assert fr.apr_compounded() >= fr.apr_simple() - D("1e-20")


@given(
    st.sampled_from([H, 4 * H, 8 * H]),
    st.integers(0, 8 * H),
    st.integers(-48 * H, 48 * H),
    st.integers(0, 96 * H),
)
def test_settlements_lie_on_the_venue_grid_inside_the_window(
    interval_ms: int, next_ms: int, start_ms: int, horizon_ms: int
) -> None:
    schedule = FundingSchedule(FundingRate(D("0.0001"), interval_ms), next_ms, MARK)
    times = settlement_times(schedule, start_ms, horizon_ms)
    assert all(start_ms < t <= start_ms + horizon_ms for t in times)
    assert all((t - next_ms) % interval_ms == 0 and t >= next_ms for t in times)
    if times:
        assert times[0] == next_ms or times[0] - interval_ms <= start_ms
        assert times[-1] + interval_ms > start_ms + horizon_ms
    longer = settlement_times(schedule, start_ms, horizon_ms + interval_ms)
    assert len(longer) >= len(times)


@given(st.integers(0, 8 * H).map(lambda t: t - t % H), st.integers(1, 30))
def test_an_aligned_1h_venue_settles_8_times_per_8h_settlement(start_ms: int, days: int) -> None:
    hourly = FundingSchedule(FundingRate(D("0.0001"), H), 0, MARK)
    eight = FundingSchedule(FundingRate(D("0.0001"), 8 * H), 0, MARK)
    horizon = days * 24 * H
    assert len(settlement_times(hourly, start_ms, horizon)) == 8 * len(
        settlement_times(eight, start_ms, horizon)
    )


@given(
    st.sampled_from([H, 4 * H, 8 * H]),
    st.integers(-96 * H, 96 * H),
    st.integers(-96 * H, 8 * H),
    st.integers(0, 12),
)
def test_a_horizon_of_whole_intervals_counts_them_all_whatever_the_phase(
    interval_ms: int, start_ms: int, lead_ms: int, k: int
) -> None:
    # any phase, and any stale snapshot; a next settlement at most one interval ahead (nothing
    # is assumed before it)
    next_ms = start_ms + min(lead_ms, interval_ms)
    schedule = FundingSchedule(FundingRate(D("0.0001"), interval_ms), next_ms, MARK)
    times = settlement_times(schedule, start_ms, k * interval_ms)
    assert len(times) == k
    assert all(t > start_ms for t in times)


cash = st.decimals(min_value=D(-5), max_value=D(5), places=2)
flow_intervals = st.sampled_from([H, 4 * H, 8 * H])


@given(
    st.lists(st.tuples(flow_intervals, st.integers(1, 8 * H), cash), min_size=1, max_size=3),
    st.decimals(min_value=D(0), max_value=D(50), places=2),
)
def test_break_even_is_the_first_settlement_where_funding_covers_the_costs(
    flows: list[tuple[int, int, D]], costs: D
) -> None:
    schedules = [
        (FundingSchedule(FundingRate(D("0.0001"), i), min(lead, i), MARK), c)
        for i, lead, c in flows
    ]

    def cum(t: int) -> D:
        return sum((c * len(settlement_times(s, 0, t)) for s, c in schedules), D(0))

    carry = sum((c / s.rate.interval_ms for s, c in schedules), D(0)) * H
    found = break_even_ms(schedules, 0, costs)
    if carry <= 0:
        assert found is None
        return
    assert found is not None
    assert cum(found) >= costs
    if carry >= D("0.01"):  # a search window well inside the budget: the exact figure
        events = sorted({t for s, _ in schedules for t in settlement_times(s, 0, found)})
        assert all(cum(t) < costs for t in events if t < found)
        assert found == 0 or found in events
