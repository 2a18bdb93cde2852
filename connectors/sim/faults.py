"""Fault hooks of a simulated venue, for the reliability suite (shared/notes/reliability.md §6).

Every hook raises ccxt's own exception classes, so code under test cannot tell the simulator from a
real venue. Counted hooks (``reject_next_orders(3)``) fire on the next N calls; rates
(``drop_response_rate=0.1``) fire at random from the plan's own seeded ``random.Random``. All
durations are sim-time milliseconds. ``counts`` tallies every fault that fired.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from dataclasses import field

from ccxt.base.errors import ExchangeNotAvailable
from ccxt.base.errors import InvalidOrder
from ccxt.base.errors import RateLimitExceeded


class SimRateLimitExceeded(RateLimitExceeded):  # type: ignore[misc]
    """HTTP 429 with a Retry-After; ``retry_after_ms`` carries it (the message states it too)."""

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


@dataclass(slots=True)
class _Counted:
    remaining: int = 0
    methods: frozenset[str] | None = None  # None: every REST method

    def take(self, method: str) -> bool:
        if self.remaining > 0 and (self.methods is None or method in self.methods):
            self.remaining -= 1
            return True
        return False


@dataclass(slots=True)
class FaultPlan:
    seed: int = 0
    drop_response_rate: float = 0.0  # accepted, then RequestTimeout
    hide_rate: float = 0.0  # accepted, then OrderNotFound for hide_ms
    hide_ms: int = 30_000
    unavailable_rate: float = 0.0  # 5xx on create_order before acceptance
    reject_rate: float = 0.0
    clock_skew_ms: int = 0
    stall_until_ms: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    rng: random.Random = field(init=False)
    _reject: _Counted = field(default_factory=_Counted)
    _drop: _Counted = field(default_factory=_Counted)
    _hide: _Counted = field(default_factory=_Counted)
    _hide_next_ms: int = 0
    _rate_limit: _Counted = field(default_factory=_Counted)
    _retry_after_ms: int = 1000
    _unavailable: _Counted = field(default_factory=_Counted)
    _retry_window_until: int = 0
    _budget: tuple[int, int] | None = None  # (max requests, window ms)
    _window: tuple[int, int] = (-1, 0)  # (window start ms, requests in window)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # ---- arming the hooks --------------------------------------------------------------------

    def reject_next_orders(self, n: int = 1) -> None:
        self._reject = _Counted(n)

    def drop_next_responses(self, n: int = 1) -> None:
        """The next N create_order calls place the order, then raise RequestTimeout."""
        self._drop = _Counted(n)

    def hide_next_orders(self, n: int = 1, duration_ms: int = 30_000) -> None:
        """The next N created orders are invisible (OrderNotFound) for ``duration_ms``."""
        self._hide = _Counted(n)
        self._hide_next_ms = duration_ms

    def rate_limit_next(
        self, n: int = 1, retry_after_ms: int = 1000, methods: set[str] | None = None
    ) -> None:
        """The next N REST calls (optionally only ``methods``) fail with 429 and a Retry-After."""
        self._rate_limit = _Counted(n, frozenset(methods) if methods else None)
        self._retry_after_ms = retry_after_ms

    def unavailable_next(self, n: int = 1, methods: set[str] | None = None) -> None:
        """The next N REST calls fail with a 5xx (ExchangeNotAvailable)."""
        self._unavailable = _Counted(n, frozenset(methods) if methods else None)

    def set_request_budget(self, max_requests: int, window_ms: int, retry_after_ms: int) -> None:
        """A fixed-window limiter: call N+1 in a window gets 429 with ``retry_after_ms``."""
        self._budget = (max_requests, window_ms)
        self._retry_after_ms = retry_after_ms

    def stall_streams(self, now_ms: int, duration_ms: int) -> None:
        """watch_* deliver nothing until ``now_ms + duration_ms`` (REST keeps working)."""
        self.stall_until_ms = now_ms + duration_ms

    def set_clock_skew(self, skew_ms: int) -> None:
        """Every venue timestamp is offset by ``skew_ms``."""
        self.clock_skew_ms = skew_ms

    # ---- firing (called by the exchange) -----------------------------------------------------

    def before_request(self, venue: str, method: str, now_ms: int) -> None:
        """Raise 429 / 5xx for this REST call if a hook says so."""
        if now_ms < self._retry_window_until:
            self.counts["request_in_retry_window"] += 1
            self._raise_429(venue, method, now_ms, self._retry_window_until - now_ms)
        if self._budget is not None:
            limit, window = self._budget
            start = now_ms - now_ms % window
            current, used = self._window
            used = used + 1 if current == start else 1
            self._window = (start, used)
            if used > limit:
                self._raise_429(venue, method, now_ms, self._retry_after_ms)
        if self._rate_limit.take(method):
            self._raise_429(venue, method, now_ms, self._retry_after_ms)
        if self._unavailable.take(method):
            self.counts["unavailable"] += 1
            raise ExchangeNotAvailable(f"{venue} {method} 503 Service Unavailable")

    def _raise_429(self, venue: str, method: str, now_ms: int, retry_after_ms: int) -> None:
        self.counts["rate_limited"] += 1
        self._retry_window_until = max(self._retry_window_until, now_ms + retry_after_ms)
        raise SimRateLimitExceeded(
            f"{venue} {method} 429 Too Many Requests, Retry-After: {retry_after_ms} ms",
            retry_after_ms,
        )

    def before_order(self, venue: str) -> None:
        """Raise for an order that the venue refuses before accepting it."""
        if self.unavailable_rate and self.rng.random() < self.unavailable_rate:
            self.counts["unavailable"] += 1
            raise ExchangeNotAvailable(f"{venue} create_order 502 Bad Gateway")
        if self._reject.take("create_order") or (
            self.reject_rate and self.rng.random() < self.reject_rate
        ):
            self.counts["rejected"] += 1
            raise InvalidOrder(f"{venue} order rejected by the venue (fault plan)")

    def hide_for_ms(self) -> int:
        """Duration to hide an order just accepted (0: visible at once)."""
        if self._hide.take("create_order"):
            self.counts["hidden"] += 1
            return self._hide_next_ms
        if self.hide_rate and self.rng.random() < self.hide_rate:
            self.counts["hidden"] += 1
            return self.hide_ms
        return 0

    def drop_response(self) -> bool:
        if self._drop.take("create_order") or (
            self.drop_response_rate and self.rng.random() < self.drop_response_rate
        ):
            self.counts["dropped_response"] += 1
            return True
        return False
