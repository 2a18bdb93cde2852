"""Statistics over PnL series and breach detection, computed by hand."""

from __future__ import annotations

import math
import statistics

import pytest

from processors.metrics import BreachLimits
from processors.metrics import detect_breaches
from processors.metrics import max_drawdown
from processors.metrics import sharpe
from processors.metrics import var_historical
from processors.metrics import var_parametric
from processors.metrics import win_rate

PNL = [1.0, -2.0, 3.0, -4.0, 5.0]  # cumulative 1, -1, 2, -2, 3


def test_max_drawdown() -> None:
    assert max_drawdown(PNL) == 4.0  # peak 2 to -2
    assert max_drawdown([-3.0, 1.0]) == 3.0  # from the starting 0
    assert max_drawdown([1.0, 2.0]) == 0.0


@pytest.mark.parametrize(("confidence", "expected"), [(0.8, 4.0), (0.6, 2.0), (0.99, 4.0)])
def test_historical_var(confidence: float, expected: float) -> None:
    assert var_historical(PNL, confidence) == expected


def test_historical_var_of_a_hundred_values() -> None:
    pnl = [float(x) for x in range(-50, 50)]  # worst five: -50 .. -46
    assert var_historical(pnl, 0.95) == 46.0


def test_parametric_var() -> None:
    # mean 0.6, sample stdev sqrt(53.2 / 4), z(5 %) = -1.6448536...
    expected = -(0.6 - 1.6448536269514722 * math.sqrt(13.3))
    assert var_parametric(PNL, 0.95) == pytest.approx(expected, rel=1e-12)


def test_sharpe_annualizes_by_square_root_of_periods() -> None:
    assert sharpe(PNL, 365) == pytest.approx(0.6 / math.sqrt(13.3) * math.sqrt(365))
    assert sharpe([1.0, 1.0], 365) is None
    assert sharpe([1.0], 365) is None


def test_win_rate() -> None:
    assert win_rate(PNL) == 0.6
    assert win_rate([0.0, 1.0]) == 0.5
    assert win_rate([]) is None


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_confidence_out_of_range(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        var_historical(PNL, confidence)


def test_breaches_list_every_bound() -> None:
    limits = BreachLimits(
        confidence=0.8, max_var_quote=1.0, max_drawdown_quote=3.0, min_sharpe=100.0
    )
    incidents = detect_breaches(PNL, limits, at_ms=42)
    assert [i.code for i in incidents] == [
        "VAR_HISTORICAL",
        "VAR_PARAMETRIC",
        "MAX_DRAWDOWN",
        "LOW_SHARPE",
    ]
    assert [i.trip_kill_switch for i in incidents] == [True, True, True, False]
    assert all(i.at_ms == 42 for i in incidents)
    assert incidents[2].value == 4.0
    assert incidents[2].limit == 3.0


def test_no_breach_within_bounds() -> None:
    stdev = statistics.stdev(PNL)
    limits = BreachLimits(max_var_quote=10 * stdev, max_drawdown_quote=4.0)
    assert detect_breaches(PNL, limits, at_ms=0) == []
