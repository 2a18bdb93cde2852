"""``--data sim:SCENARIO``: the simulated world's market data, generated in process, no Kafka.

The bundled scenario (``connectors/sim/scenarios/<SCENARIO>.json``) runs at max speed through
the connector's own feed (:func:`connectors.feed.run_feed`: the sim venues as ccxt exchanges,
normalization, validation and instrument facts exactly as ``fundingflow connect`` publishes
them) into a sink that keeps the records in arrival order. Only books and funding are streamed
(trades do not move the reducers); malformed payloads are switched off (the backtest is about
the strategy, the dead-letter path has its own tests). The market steps ``[sim] step_s`` of
market time at a time (the scenario's own dynamics are scaled to the step) for ``[sim] hours``,
from the scenario's fixed epoch: a seed gives the same records every run. The records are
applied in event-time order (ties: facts, books, funding, then arrival).
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.sim.world import build_sim_exchanges
from connectors.venues import profile_for
from schemas.avro_record import AvroRecord
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from streams.backtest_data import RANK
from streams.backtest_data import BacktestDataError
from streams.incident_replay import Positioned
from streams.strategy import SimSection

PREFIX = "sim:"
KEPT = (MD_INSTRUMENT, MD_BOOK, MD_FUNDING)


def scenarios() -> list[str]:
    """The bundled scenario names."""
    folder = resources.files("connectors.sim").joinpath("scenarios")
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


class _Keep:
    """A feed sink that keeps the market records in arrival order."""

    def __init__(self) -> None:
        self.items: list[Positioned] = []

    def start(self, topics: list[str]) -> None:
        del topics

    def emit(self, topic: str, record: AvroRecord) -> None:
        if topic in KEPT:
            t = record.envelope.event_time_ms  # type: ignore[attr-defined]
            self.items.append(Positioned(topic, 0, len(self.items), t, record))

    def close(self) -> None:
        pass


def sim_records(scenario: str, sim: SimSection) -> list[Positioned]:
    """The market records of ``scenario`` over ``sim.hours`` from its epoch."""
    known = scenarios()
    if scenario not in known:
        raise BacktestDataError(
            f"unknown sim scenario {scenario!r}; bundled: {', '.join(known) or 'none'}"
        )
    step_ms = sim.step_s * 1000
    settings = ConnectorSettings(funding_poll_interval_s=float(sim.step_s))

    def venues(venue_id: str) -> list[CcxtVenue]:
        del venue_id
        overrides: dict[str, Any] = {
            "step_ms": step_ms,
            "funding_update_ms": step_ms,
            "malformed": {"rate": 0.0},
        }
        exchanges = build_sim_exchanges(sim.seed, "max", scenario, **overrides)
        return [
            CcxtVenue(ex, venue_id=vid, settings=settings, profile=profile_for("sim"))
            for vid, ex in sorted(exchanges.items())
        ]

    config = FeedConfig(
        venues=("sim",),
        assets=tuple(sim.assets),
        duration_s=float(sim.hours) * 3600,
        seed=sim.seed,
        streams=("book", "funding"),
        settings=settings,
        venue_factory=venues,
    )
    sink = _Keep()
    asyncio.run(run_feed(config, sink))
    if not any(p.topic != MD_INSTRUMENT for p in sink.items):
        raise BacktestDataError(f"sim:{scenario} gave no market data for {list(sim.assets)}")
    # At max speed the feed's streams are scheduled unevenly: one venue's books may arrive
    # minutes of market time after another's. The market as it happened is event-time order.
    start = min(p.timestamp_ms for p in sink.items if p.topic != MD_INSTRUMENT)
    end = start + int(sim.hours * 3_600_000)
    items = [p for p in sink.items if p.timestamp_ms < end or p.topic == MD_INSTRUMENT]
    items.sort(key=lambda p: (p.timestamp_ms, RANK[p.topic], p.offset))
    return items
