"""The simulated clock: integer ms from the scenario epoch, paced in real time or not at all.

``speed="max"`` never sleeps: time moves only when the market is stepped. ``"1x"`` / ``"10x"`` (or a
float) pace sim time against a monotonic real-time source; both the source and the sleep
function are injectable so tests can check pacing without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable


def parse_speed(speed: str | float) -> float | None:
    """``"max"`` -> None (as fast as possible); ``"10x"`` / ``10`` -> 10.0."""
    if isinstance(speed, str):
        text = speed.strip().lower()
        if text == "max":
            return None
        value = float(text.removesuffix("x"))
    else:
        value = float(speed)
    if value <= 0:
        raise ValueError(f"speed must be positive or 'max', got {speed!r}")
    return value


class SimClock:
    """Sim time in ms. ``now_ms`` only moves through ``advance_to`` (called by the market step)."""

    def __init__(
        self,
        epoch_ms: int,
        speed: str | float = "max",
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.epoch_ms = epoch_ms
        self.now_ms = epoch_ms
        self.speed = parse_speed(speed)
        self._monotonic = monotonic
        self._sleep = sleep
        self._anchor_real: float | None = None
        self._anchor_sim = epoch_ms

    @property
    def is_max_speed(self) -> bool:
        return self.speed is None

    def advance_to(self, ts_ms: int) -> None:
        if ts_ms < self.now_ms:
            raise ValueError(f"sim time cannot go back: {ts_ms} < {self.now_ms}")
        self.now_ms = ts_ms

    async def wait_until(self, ts_ms: int) -> None:
        """Sleep until real time catches up with sim time ``ts_ms`` (no-op at max speed)."""
        if self.speed is None:
            return
        now_real = self._monotonic()
        if self._anchor_real is None:
            self._anchor_real, self._anchor_sim = now_real, self.now_ms
        due = self._anchor_real + (ts_ms - self._anchor_sim) / 1000.0 / self.speed
        if due > now_real:
            await self._sleep(due - now_real)
