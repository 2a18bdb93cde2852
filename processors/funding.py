"""Funding: settlement calendars, expected funding cash, prediction, interval derivation.

Sign convention: a positive rate means longs pay shorts. A cash amount is positive when the
leg *receives* it and negative when the leg pays.

Annualization lives on :class:`processors.units.FundingRate` (``apr_simple``,
``apr_compounded``); normalization per hour is for comparison only, cash uses the native
interval and the venue's own settlement times.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from decimal import ROUND_CEILING
from decimal import Decimal

from processors.units import ONE
from processors.units import ZERO
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import sign
from schemas.errors import InvalidEvent
from schemas.records.common import PositionSide
from schemas.records.dlq import DeadLetterReason

#: EWMA smoothing of realized rates: ``estimate = alpha * realized + (1 - alpha) * estimate``.
#: 0.3 gives a half-life of ~1.9 settlements (ln 0.5 / ln 0.7), quick enough to follow the
#: regime shifts funding shows, slow enough to damp one-off prints.
DEFAULT_EWMA_ALPHA = Decimal("0.3")


def first_settlement_after_ms(schedule: FundingSchedule, now_ms: int) -> int:
    """The first settlement strictly after ``now_ms``, on the venue's grid.

    Settlements fall at ``next_funding_time_ms + k * interval_ms`` for ``k >= 0``; a
    ``next_funding_time_ms`` at or before ``now_ms`` (stale snapshot, or a settlement happening
    now) is rolled forward on the same grid; nothing is assumed before it.
    """
    first = schedule.next_funding_time_ms
    if first <= now_ms:
        first += ((now_ms - first) // schedule.rate.interval_ms + 1) * schedule.rate.interval_ms
    return first


def settlement_times(schedule: FundingSchedule, start_ms: int, horizon_ms: int) -> tuple[int, ...]:
    """The venue's settlement times in the closed horizon ``(start_ms, start_ms + horizon_ms]``.

    A settlement exactly at ``start_ms`` is not counted: it settles on the positions held at
    that instant, before an entry at ``start_ms`` is filled. One exactly at the horizon's end is
    counted: the position is held through it and closed after. So a horizon that is a multiple
    of the interval counts exactly ``horizon / interval`` settlements whatever the phase (48 h at
    8 h counts 6), which is what the steady per-hour rate assumes.
    """
    if horizon_ms < 0:
        raise ValueError(f"expected a non-negative horizon, was {horizon_ms} ms")
    first = first_settlement_after_ms(schedule, start_ms)
    end = start_ms + horizon_ms
    return tuple(range(first, end + 1, schedule.rate.interval_ms)) if first <= end else ()


def next_settlement_ms(schedule: FundingSchedule, now_ms: int) -> int:
    """The first settlement at or after ``now_ms`` (rolled forward if the snapshot is stale)."""
    first = schedule.next_funding_time_ms
    if first >= now_ms:
        return first
    interval = schedule.rate.interval_ms
    return first + -(-(now_ms - first) // interval) * interval


def funding_cash_quote(rate: Decimal, side: PositionSide, notional_quote: Decimal) -> Decimal:
    """Cash for one settlement: ``-sign(side) * rate * notional`` (positive = received)."""
    return -sign(side) * rate * notional_quote


@dataclass(frozen=True, slots=True)
class LegFundingCash:
    settlements: int
    per_settlement_quote: Decimal
    """Cash of one settlement: positive when the leg receives funding, negative when it pays."""

    @property
    def cash_quote(self) -> Decimal:
        """Cash over the horizon: positive when the leg receives funding, negative when it pays."""
        return self.per_settlement_quote * self.settlements

    @property
    def paid_quote(self) -> Decimal:
        return -self.cash_quote if self.cash_quote < 0 else ZERO

    @property
    def received_quote(self) -> Decimal:
        return self.cash_quote if self.cash_quote > 0 else ZERO


def funding_notional_quote(schedule: FundingSchedule, size_base: Decimal) -> Decimal:
    """The notional funding is settled on: ``size_base * mark_price`` (never the book mid)."""
    return size_base * schedule.mark_price


def expected_funding_cash(
    schedule: FundingSchedule,
    side: PositionSide,
    size_base: Decimal,
    start_ms: int,
    horizon_ms: int,
) -> LegFundingCash:
    """Expected funding of ``size_base`` over ``(start_ms, start_ms + horizon_ms]``, holding the
    rate and the mark constant: ``rate * mark * size`` per settlement."""
    n = len(settlement_times(schedule, start_ms, horizon_ms))
    notional = funding_notional_quote(schedule, size_base)
    return LegFundingCash(n, funding_cash_quote(schedule.rate.rate, side, notional))


#: Settlements :func:`break_even_ms` examines before it answers with its guaranteed bound.
MAX_BREAK_EVEN_SETTLEMENTS = 10_000


def break_even_ms(
    flows: Sequence[tuple[FundingSchedule, Decimal]], start_ms: int, costs_quote: Decimal
) -> int | None:
    """The first settlement time after ``start_ms`` at which the funding of ``flows`` (each a
    schedule and its cash per settlement, positive = received), counted on the same calendar as
    :func:`settlement_times`, covers ``costs_quote``; ``start_ms`` itself when nothing is owed.

    None when the steady net carry (``sum(cash / interval)``) is not positive. Cumulative
    funding lies within the steady line plus or minus one settlement of each leg, which bounds
    the search window; beyond :data:`MAX_BREAK_EVEN_SETTLEMENTS` settlements in that window
    (legs whose funding nearly cancels) the window's end is returned, a time by which the
    costs are certainly covered (never earlier than the exact figure).
    """
    carry_per_ms = sum((cash / s.rate.interval_ms for s, cash in flows), ZERO)
    if carry_per_ms <= 0:
        return None
    if costs_quote <= 0:
        return start_ms
    grid = [(first_settlement_after_ms(s, start_ms), s.rate.interval_ms, c) for s, c in flows]
    phase = -sum((c * (first - start_ms) / i for first, i, c in grid), ZERO)
    upper = phase + sum((c for _, _, c in grid if c > 0), ZERO)  # cum(t) <= carry * t + upper
    lower = phase + sum((c for _, _, c in grid if c < 0), ZERO)  # cum(t) >= carry * t + lower
    # widened by a few milliseconds: the bounds are rounded decimals, the search stays exact
    lo = start_ms + max(_ceil((costs_quote - upper) / carry_per_ms) - 2, 0)
    hi = start_ms + _ceil((costs_quote - lower) / carry_per_ms) + 1
    times: set[int] = set()
    for first, interval, _ in grid:
        k0 = max(_ceil(Decimal(lo - first) / interval), 0)
        k1 = (hi - first) // interval
        if len(times) + max(k1 - k0 + 1, 0) > MAX_BREAK_EVEN_SETTLEMENTS:
            return hi
        times.update(range(first + k0 * interval, first + k1 * interval + 1, interval))
    for t in sorted(times):
        cumulative = sum((c * ((t - first) // i + 1) for first, i, c in grid if t >= first), ZERO)
        if cumulative >= costs_quote:
            return t
    return hi  # not reached: the funding counted up to hi covers the costs by the bound


def _ceil(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=ROUND_CEILING))


# --------------------------------------------------------------------------- prediction


@dataclass(frozen=True, slots=True)
class RealizedFunding:
    """A settled funding rate (event fed to :func:`apply`)."""

    rate: FundingRate
    funding_time_ms: int


@dataclass(frozen=True, slots=True)
class VenuePrediction:
    """The venue's own predicted rate for the next settlement."""

    rate: FundingRate
    ts_ms: int


FundingEvent = RealizedFunding | VenuePrediction


@dataclass(frozen=True, slots=True)
class FundingPredictor:
    """Immutable predictor state for one instrument.

    ``predict()`` returns the venue prediction when one is pending for the next settlement,
    else an EWMA of realized rates (kept per hour, so an interval change does not bias it).
    Each realized rate is compared with the prediction that was in force; errors are
    accumulated as absolute and squared sums (rates per native interval).
    """

    alpha: Decimal = DEFAULT_EWMA_ALPHA
    ewma_per_hour: Decimal | None = None
    interval_ms: int | None = None
    venue_prediction: FundingRate | None = None
    last_funding_time_ms: int | None = None
    errors: int = 0
    abs_error_sum: Decimal = ZERO
    sq_error_sum: Decimal = ZERO
    last_error: Decimal | None = None

    def __post_init__(self) -> None:
        if not ZERO < self.alpha <= ONE:
            raise ValueError(f"expected 0 < alpha <= 1, was {self.alpha}")

    def predict(self) -> FundingRate | None:
        if self.venue_prediction is not None:
            return self.venue_prediction
        if self.ewma_per_hour is None or self.interval_ms is None:
            return None
        return FundingRate(self.ewma_per_hour * self.interval_ms / 3_600_000, self.interval_ms)

    @property
    def mean_abs_error(self) -> Decimal | None:
        return self.abs_error_sum / self.errors if self.errors else None

    @property
    def rmse(self) -> Decimal | None:
        return (self.sq_error_sum / self.errors).sqrt() if self.errors else None

    def observe(self, realized: RealizedFunding) -> FundingPredictor:
        """A new state after a settlement; a replayed or older settlement is ignored."""
        if self.last_funding_time_ms is not None and (
            realized.funding_time_ms <= self.last_funding_time_ms
        ):
            return self
        state = self
        predicted = self.predict()
        if predicted is not None:
            error = realized.rate.rate - predicted.per(realized.rate.interval_ms)
            state = replace(
                state,
                errors=state.errors + 1,
                abs_error_sum=state.abs_error_sum + abs(error),
                sq_error_sum=state.sq_error_sum + error * error,
                last_error=error,
            )
        x = realized.rate.per_hour()
        ewma = (
            x
            if self.ewma_per_hour is None
            else self.alpha * x + (ONE - self.alpha) * (self.ewma_per_hour)
        )
        return replace(
            state,
            ewma_per_hour=ewma,
            interval_ms=realized.rate.interval_ms,
            venue_prediction=None,
            last_funding_time_ms=realized.funding_time_ms,
        )

    def with_venue_prediction(self, prediction: VenuePrediction) -> FundingPredictor:
        return replace(self, venue_prediction=prediction.rate)


def apply(state: FundingPredictor, event: FundingEvent) -> FundingPredictor:
    """Pure reducer over funding events."""
    if isinstance(event, RealizedFunding):
        return state.observe(event)
    return state.with_venue_prediction(event)


# ------------------------------------------------------------------- interval derivation


def derive_interval_ms(
    funding_times_ms: Sequence[int], *, window: int = 3, granularity_ms: int = 60_000
) -> int:
    """The funding interval from consecutive settlement timestamps (ascending order).

    Takes the smallest gap among the last ``window`` gaps: a missing record only lengthens a
    gap, and a venue moving to a shorter interval shows up once two stamps at the new cadence
    exist. The result is rounded to ``granularity_ms`` (venues stamp a few ms late). Fewer than
    two timestamps, or non-increasing ones, raise :class:`InvalidEvent` — never a default.
    """
    if len(funding_times_ms) < 2:
        raise InvalidEvent(
            DeadLetterReason.MISSING_FUNDING_INTERVAL,
            f"need two funding timestamps to derive an interval, got {len(funding_times_ms)}",
        )
    gaps = [b - a for a, b in itertools.pairwise(funding_times_ms)]
    if any(g <= 0 for g in gaps):
        raise InvalidEvent(
            DeadLetterReason.OUT_OF_ORDER_SEQUENCE,
            f"expected increasing funding timestamps, got gaps {gaps}",
        )
    smallest = min(gaps[-window:])
    interval = (smallest + granularity_ms // 2) // granularity_ms * granularity_ms
    if interval <= 0:
        raise InvalidEvent(
            DeadLetterReason.MISSING_FUNDING_INTERVAL,
            f"gap of {smallest} ms is below {granularity_ms} ms",
        )
    return interval
