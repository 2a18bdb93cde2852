"""Backtest statistics over an equity curve: returns, annualization, drawdown, Sharpe, win rate.

Pure and descriptive (``float``, as :mod:`processors.metrics`, whose Sharpe, max drawdown and
win rate these build on; money stays ``Decimal`` in the PnL split).

- **Equity curve**: ``(time ms, equity quote)`` points; :func:`resample` turns the irregular
  points into one value per period (the last equity at or before each period end), the
  series Sharpe and drawdown are read from.
- **Total return**: ``pnl / capital``.
- **Annualized, simple**: ``total * year / duration`` (no reinvestment).
- **Annualized, compounded**: ``(1 + total) ** (year / duration) - 1`` (the same return earned
  and reinvested every ``duration`` for a year); None when ``1 + total <= 0`` or when it is
  beyond a float (a large return over a short run).
- **Drawdown** at a point: ``peak - equity`` in quote and ``(peak - equity) / peak`` as a
  fraction, the peak being the running maximum of the curve (its first point included).
- **Sharpe**: :func:`processors.metrics.sharpe` over the per-period PnL of the resampled curve,
  annualized with ``sqrt(periods per year)``, risk-free rate 0.
- **Win rate**: :func:`processors.metrics.win_rate` over the PnL of each traded opportunity
  (a flat one is not a win).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from processors.metrics import sharpe as period_sharpe
from processors.metrics import win_rate as positive_share

YEAR_MS = 365 * 24 * 3_600_000
Point = tuple[int, float]


def total_return(pnl: float, capital: float) -> float:
    if capital <= 0:
        raise ValueError(f"expected a positive capital, was {capital}")
    return pnl / capital


def annualized_simple(total: float, duration_ms: int) -> float:
    if duration_ms <= 0:
        raise ValueError(f"expected a positive duration, was {duration_ms} ms")
    return total * YEAR_MS / duration_ms


def annualized_compounded(total: float, duration_ms: int) -> float | None:
    if duration_ms <= 0:
        raise ValueError(f"expected a positive duration, was {duration_ms} ms")
    if 1.0 + total <= 0.0:
        return None
    try:
        return float((1.0 + total) ** (YEAR_MS / duration_ms) - 1.0)
    except OverflowError:
        return None


def resample(points: Sequence[Point], start_ms: int, end_ms: int, period_ms: int) -> list[Point]:
    """The curve at ``start_ms``, every ``period_ms`` after it and at ``end_ms``: at each time the
    value of the last point at or before it (the first point's value before any point)."""
    if period_ms <= 0:
        raise ValueError(f"expected a positive period, was {period_ms} ms")
    if not points:
        return []
    times = list(range(start_ms, end_ms, period_ms))
    if not times or times[-1] != end_ms:
        times.append(end_ms)
    out: list[Point] = []
    i = 0
    value = points[0][1]
    for t in times:
        while i < len(points) and points[i][0] <= t:
            value = points[i][1]
            i += 1
        out.append((t, value))
    return out


def period_pnl(equity: Sequence[float]) -> list[float]:
    """The change of equity over each period (one value fewer than the curve)."""
    return [b - a for a, b in itertools.pairwise(equity)]


@dataclass(frozen=True, slots=True)
class Drawdown:
    quote: float
    fraction: float


def drawdowns(equity: Sequence[float]) -> list[Drawdown]:
    """The drawdown at every point of the curve (0 at a new peak)."""
    out: list[Drawdown] = []
    peak = float("-inf")
    for value in equity:
        peak = max(peak, value)
        fall = peak - value
        out.append(Drawdown(fall, fall / peak if peak > 0 else 0.0))
    return out


def max_drawdown(equity: Sequence[float]) -> Drawdown:
    """The largest drawdown in quote, and the largest as a fraction of its peak."""
    found = drawdowns(equity)
    if not found:
        return Drawdown(0.0, 0.0)
    return Drawdown(max(d.quote for d in found), max(d.fraction for d in found))


def sharpe(equity: Sequence[float], period_ms: int) -> float | None:
    """Annualized Sharpe of the curve's per-period PnL (None when undefined)."""
    return period_sharpe(period_pnl(equity), YEAR_MS / period_ms)


def win_rate(trade_pnl: Sequence[float]) -> float | None:
    """Share of traded opportunities that made money (None when nothing traded)."""
    return positive_share(trade_pnl)
