"""Properties of the backtest statistics: returns, annualization, drawdown, Sharpe, resampling."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from processors import metrics
from processors.backtest_metrics import YEAR_MS
from processors.backtest_metrics import annualized_compounded
from processors.backtest_metrics import annualized_simple
from processors.backtest_metrics import drawdowns
from processors.backtest_metrics import max_drawdown
from processors.backtest_metrics import period_pnl
from processors.backtest_metrics import resample
from processors.backtest_metrics import sharpe
from processors.backtest_metrics import total_return

money = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
curves = st.lists(st.floats(min_value=1.0, max_value=1e7, allow_nan=False), min_size=1, max_size=60)
durations = st.integers(min_value=3_600_000, max_value=YEAR_MS)


@given(st.floats(min_value=-0.99, max_value=10.0, allow_nan=False))
def test_one_year_annualizes_to_itself(total: float) -> None:
    assert math.isclose(annualized_simple(total, YEAR_MS), total, abs_tol=1e-12)
    compounded = annualized_compounded(total, YEAR_MS)
    assert compounded is not None
    assert math.isclose(compounded, total, abs_tol=1e-9)


@given(st.floats(min_value=0.0, max_value=0.5, allow_nan=False), durations)
def test_compounding_a_gain_within_a_year_beats_the_simple_rate(total: float, ms: int) -> None:
    compounded = annualized_compounded(total, ms)
    if compounded is None:  # beyond a float: certainly above the simple rate
        assert math.log1p(total) * YEAR_MS / ms > math.log(1.7e308)
        return
    assert compounded >= annualized_simple(total, ms) * (1 - 1e-12) - 1e-12  # Bernoulli


def test_a_rate_beyond_a_float_is_none_not_infinity() -> None:
    assert annualized_compounded(0.5, 3_600_000) is None  # 1.5 ** 8760


@given(durations)
def test_losing_everything_has_no_compounded_rate(ms: int) -> None:
    assert annualized_compounded(-1.0, ms) is None
    assert annualized_simple(-1.0, ms) == -YEAR_MS / ms


@given(money, st.floats(min_value=1.0, max_value=1e7))
def test_total_return_is_pnl_over_capital(pnl: float, capital: float) -> None:
    assert math.isclose(total_return(pnl, capital) * capital, pnl, rel_tol=1e-12, abs_tol=1e-9)


@given(curves)
def test_drawdown_is_the_fall_from_the_running_peak(curve: list[float]) -> None:
    found = drawdowns(curve)
    assert len(found) == len(curve)
    for i, d in enumerate(found):
        peak = max(curve[: i + 1])
        assert d.quote == peak - curve[i] >= 0
        assert 0 <= d.fraction < 1
    assert found[0].quote == 0  # the first point is its own peak


@given(curves)
def test_max_drawdown_agrees_with_the_pnl_series_statistic(curve: list[float]) -> None:
    # metrics.max_drawdown reads per-period PnL from 0, the curve's first point is the start
    expected = metrics.max_drawdown(period_pnl(curve))
    assert math.isclose(max_drawdown(curve).quote, expected, rel_tol=1e-9, abs_tol=1e-6)


@given(
    st.lists(st.integers(-10_000, 10_000), min_size=2, max_size=40),
    st.integers(1, 10**6),
    st.integers(0, 10**6),
)
def test_sharpe_reads_only_the_changes_of_the_curve(pnl: list[int], start: int, shift: int) -> None:
    curve = [float(start)]
    for x in pnl:
        curve.append(curve[-1] + x)  # whole numbers: the changes are exact
    a = sharpe(curve, 3_600_000)
    b = sharpe([c + shift for c in curve], 3_600_000)
    assert a == b == metrics.sharpe([float(x) for x in pnl], YEAR_MS / 3_600_000)


def test_a_steady_gain_has_no_sharpe_and_a_noisy_one_has_its_sign() -> None:
    assert sharpe([100.0, 101.0, 102.0, 103.0], 3_600_000) is None  # zero dispersion
    up = sharpe([100.0, 102.0, 103.0, 106.0], 3_600_000)
    assert up is not None
    assert up > 0


@given(
    st.lists(st.tuples(st.integers(0, 10_000), money), min_size=1, max_size=30),
    st.integers(1, 2_000),
)
def test_resample_is_the_last_value_at_or_before_each_time(
    raw: list[tuple[int, float]], period: int
) -> None:
    points = sorted(raw, key=lambda p: p[0])
    start, end = points[0][0], points[-1][0] + 1
    out = resample(points, start, end, period)
    times = [t for t, _ in out]
    assert times[0] == start
    assert times[-1] == end
    assert times == sorted(set(times))
    for t, v in out:
        before = [p for p in points if p[0] <= t]
        assert v == (before[-1][1] if before else points[0][1])
