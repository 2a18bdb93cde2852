"""The simulated world: one shared market, one clock, and a ``SimExchange`` per scenario venue.

Build it from a seed: ``world = SimWorld.create(seed=7, speed="max")``, then
``world.exchange("sim-okx")`` or ``build_sim_exchanges(seed=7)``. Time moves when the market is
stepped: explicitly (``world.step()``, ``world.iter_market_events(n)``, ``world.run_for(ms)``) or
by a ``watch_*`` call that needs a newer update (``await world.advance()``, paced by the clock's
speed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.sim.clock import SimClock
from connectors.sim.exchange import SimExchange
from connectors.sim.market import MarketChange
from connectors.sim.market import MarketModel
from connectors.sim.scenario import Scenario
from connectors.sim.scenario import load_scenario


class SimWorld:
    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        clock: SimClock | None = None,
        *,
        create_exchanges: bool = True,
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.clock = clock or SimClock(scenario.epoch_ms, "max")
        if self.clock.now_ms != scenario.epoch_ms:
            raise ValueError("the clock must start at the scenario epoch")
        self.model = MarketModel(scenario, seed)
        self._lock = asyncio.Lock()
        self.exchanges: dict[str, SimExchange] = {}
        if create_exchanges:
            for vid in scenario.venues:
                self.exchanges[vid] = SimExchange(self, vid)

    @classmethod
    def create(
        cls,
        seed: int = 0,
        speed: str | float = "max",
        scenario: str | Path | Scenario = "default",
        *,
        create_exchanges: bool = True,
        **overrides: Any,
    ) -> SimWorld:
        """A world from a bundled scenario name (or path, or Scenario) with top-level overrides."""
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario, **overrides)
        return cls(sc, seed, SimClock(sc.epoch_ms, speed), create_exchanges=create_exchanges)

    def exchange(self, venue: str) -> SimExchange:
        return self.exchanges[venue]

    @property
    def now_ms(self) -> int:
        return self.model.now_ms

    # ---- stepping ----------------------------------------------------------------------------

    def step(self) -> list[MarketChange]:
        """Advance the market one scenario step (no sleeping); returns what changed."""
        changes = self.model.step()
        self.clock.advance_to(self.model.now_ms)
        for change in changes:
            ex = self.exchanges.get(change.venue)
            if ex is None:  # a standalone SimExchange's world has only its own venue
                continue
            if change.kind == "book":
                ex.on_book_update(change.symbol)
            elif change.kind == "settlement":
                ex.on_funding_settlement(change.symbol)
        return changes

    def iter_market_events(self, steps: int | None = None) -> Iterator[MarketChange]:
        """Step ``steps`` times (forever if None), yielding every (venue, symbol, kind) change."""
        n = 0
        while steps is None or n < steps:
            yield from self.step()
            n += 1

    def run_for(self, duration_ms: int) -> int:
        """Step until ``duration_ms`` of sim time has passed (no sleeping); returns steps taken."""
        end = self.model.now_ms + duration_ms
        n = 0
        while self.model.now_ms < end:
            self.step()
            n += 1
        return n

    async def advance(self) -> None:
        """One step, after waiting for real time to catch up at 1x/10x (never waits at max).

        At max speed it still yields to the event loop once, so concurrent watchers interleave.
        """
        target = self.model.now_ms + self.scenario.step_ms
        async with self._lock:
            if self.model.now_ms >= target:  # someone else stepped while we waited
                return
            await self.clock.wait_until(target)
            self.step()
        if self.clock.is_max_speed:
            await asyncio.sleep(0)

    async def close(self) -> None:
        for ex in self.exchanges.values():
            await ex.close()


def standalone_exchange(config: dict[str, Any] | None = None) -> SimExchange:
    """One exchange over a world of its own, from a ccxt-style config: ``seed`` (0), ``speed``
    (``"max"``), ``scenario`` (``"default"``) and ``venue`` (the scenario's first) are the
    simulator's keys; the rest goes to ccxt. Its world has no other exchange."""
    config = dict(config or {})
    sim_keys = {k: config.pop(k) for k in ("seed", "speed", "scenario", "venue") if k in config}
    world = SimWorld.create(
        int(sim_keys.get("seed", 0)),
        sim_keys.get("speed", "max"),
        sim_keys.get("scenario", "default"),
        create_exchanges=False,
    )
    venue = sim_keys.get("venue") or next(iter(world.scenario.venues))
    world.exchanges[venue] = SimExchange(world, venue, config)
    return world.exchanges[venue]


def build_sim_exchanges(
    seed: int = 0, speed: str | float = "max", scenario: str | Path = "default", **overrides: Any
) -> dict[str, SimExchange]:
    """The scenario's venues (``sim-binance``, ``sim-okx``, ``sim-bybit``) sharing one world."""
    return SimWorld.create(seed, speed, scenario, **overrides).exchanges
