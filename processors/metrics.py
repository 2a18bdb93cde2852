"""Portfolio statistics over a PnL series, and breach detection.

Statistics are descriptive and use ``float`` (money stays Decimal everywhere else; convert at
the call). A PnL series is the per-period PnL in quote (one value per period, oldest first).

- Historical VaR at confidence ``c``: the loss at the empirical ``1 - c`` quantile (lower,
  no interpolation: the ``ceil((1 - c) * n)``-th worst value), reported as a positive loss.
- Parametric VaR: ``-(mean + z_{1-c} * stdev)`` with the sample stdev (n - 1), Gaussian.
- Max drawdown: the largest fall of cumulative PnL from a running peak, starting from 0.
- Sharpe: ``mean / stdev * sqrt(periods_per_year)`` over per-period PnL, risk-free rate 0,
  i.i.d. periods (square-root-of-time annualization). Scale-free, so PnL or returns alike.
- Win rate: periods with PnL > 0 over all periods (a flat period is not a win).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"expected a confidence in (0, 1), was {confidence}")


def var_historical(pnl: Sequence[float], confidence: float) -> float:
    _check_confidence(confidence)
    if not pnl:
        raise ValueError("expected a non-empty PnL series")
    ordered = sorted(pnl)
    k = max(math.ceil((1.0 - confidence) * len(ordered) - 1e-12) - 1, 0)
    return -ordered[k]


def var_parametric(pnl: Sequence[float], confidence: float) -> float:
    _check_confidence(confidence)
    if len(pnl) < 2:
        raise ValueError("expected at least two PnL values for a stdev")
    z = statistics.NormalDist().inv_cdf(1.0 - confidence)
    return -(statistics.fmean(pnl) + z * statistics.stdev(pnl))


def max_drawdown(pnl: Sequence[float]) -> float:
    equity = peak = worst = 0.0
    for x in pnl:
        equity += x
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def sharpe(pnl: Sequence[float], periods_per_year: float) -> float | None:
    """None when undefined (fewer than two values or zero dispersion)."""
    if len(pnl) < 2:
        return None
    sd = statistics.stdev(pnl)
    if sd == 0:
        return None
    return statistics.fmean(pnl) / sd * math.sqrt(periods_per_year)


def win_rate(pnl: Sequence[float]) -> float | None:
    if not pnl:
        return None
    return sum(1 for x in pnl if x > 0) / len(pnl)


@dataclass(frozen=True, slots=True)
class BreachLimits:
    confidence: float = 0.99
    max_var_quote: float | None = None
    max_drawdown_quote: float | None = None
    min_sharpe: float | None = None
    periods_per_year: float = 365.0
    trip_kill_switch: bool = True


@dataclass(frozen=True, slots=True)
class Breach:
    """A breached bound; ``trip_kill_switch`` asks the risk layer to engage the switch."""

    code: str
    value: float
    limit: float
    at_ms: int
    trip_kill_switch: bool

    @property
    def detail(self) -> str:
        return f"{self.code}: {self.value:.6g} breaches {self.limit:.6g}"


def detect_breaches(pnl: Sequence[float], limits: BreachLimits, at_ms: int) -> list[Breach]:
    """Every breached bound (all of them, not the first); ``at_ms`` is the event time."""
    found: list[Breach] = []
    trip = limits.trip_kill_switch
    if limits.max_var_quote is not None and len(pnl) >= 2:
        for code, value in (
            ("VAR_HISTORICAL", var_historical(pnl, limits.confidence)),
            ("VAR_PARAMETRIC", var_parametric(pnl, limits.confidence)),
        ):
            if value > limits.max_var_quote:
                found.append(Breach(code, value, limits.max_var_quote, at_ms, trip))
    if limits.max_drawdown_quote is not None:
        dd = max_drawdown(pnl)
        if dd > limits.max_drawdown_quote:
            found.append(Breach("MAX_DRAWDOWN", dd, limits.max_drawdown_quote, at_ms, trip))
    if limits.min_sharpe is not None:
        s = sharpe(pnl, limits.periods_per_year)
        if s is not None and s < limits.min_sharpe:
            found.append(Breach("LOW_SHARPE", s, limits.min_sharpe, at_ms, trip_kill_switch=False))
    return found
