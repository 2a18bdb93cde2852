"""The simulated multi-venue market: fake ccxt exchanges over one seeded, deterministic scenario.

``SimExchange`` presents the ccxt ``async_support`` unified API (structures and exceptions are
ccxt's own), so the shared ccxt-backed venue wraps it exactly like a real exchange.

    world = SimWorld.create(seed=7, speed="max")        # or speed="1x" / "10x"
    okx = world.exchange("sim-okx")
    await okx.load_markets()
    book = await okx.watch_order_book("BTC/USDT:USDT")  # advances the shared clock as needed
    for change in world.iter_market_events(100):         # or drive it explicitly
        ...
"""

from connectors.sim.clock import SimClock
from connectors.sim.exchange import SimExchange
from connectors.sim.faults import FaultPlan
from connectors.sim.faults import SimRateLimitExceeded
from connectors.sim.market import MarketChange
from connectors.sim.scenario import Scenario
from connectors.sim.scenario import load_scenario
from connectors.sim.world import SimWorld
from connectors.sim.world import build_sim_exchanges
from connectors.sim.world import standalone_exchange

__all__ = [
    "FaultPlan",
    "MarketChange",
    "Scenario",
    "SimClock",
    "SimExchange",
    "SimRateLimitExceeded",
    "SimWorld",
    "build_sim_exchanges",
    "load_scenario",
    "standalone_exchange",
]
