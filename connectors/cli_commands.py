"""The ``connect`` and ``record`` commands as plain functions over parsed arguments.

``fundingflow/commands/connect.py`` wraps them in Typer; argument errors raise ``ValueError``
with a one-line message (the Typer layer turns them into ``typer.BadParameter``).
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from connectors.config import ConnectorSettings
from connectors.factory import SIM
from connectors.factory import create_venues
from connectors.factory import known_venue_ids
from connectors.feed import FeedConfig
from connectors.feed import FeedStats
from connectors.feed import run_feed
from connectors.publisher import KafkaPublisher
from connectors.recorder import Recorder
from connectors.sinks import MemorySink
from connectors.sinks import Sink
from connectors.sinks import StdoutSink
from connectors.venue import Venue

SINKS = ("kafka", "stdout")


def parse_venues(text: str) -> tuple[str, ...]:
    """``"binance,okx"`` → ids; unknown ids are refused with the list of valid forms."""
    ids = tuple(v.strip().lower() for v in text.split(",") if v.strip())
    if not ids:
        raise ValueError("give at least one venue, e.g. --venues sim or --venues binanceusdm,okx")
    unknown = [v for v in ids if v not in known_venue_ids()]
    if unknown:
        raise ValueError(
            f"unknown venue {', '.join(unknown)}: use 'sim' or ccxt exchange ids "
            "(e.g. binance, binanceusdm, okx, bybit)"
        )
    if SIM in ids and len(ids) > 1:
        raise ValueError("'sim' runs alone (it already simulates several venues)")
    return ids


def parse_assets(text: str) -> tuple[str, ...]:
    assets = tuple(a.strip().upper() for a in text.split(",") if a.strip())
    if not assets or not all(a.isalnum() for a in assets):
        raise ValueError(f"expected comma-separated asset codes like BTC,ETH, was {text!r}")
    return assets


def parse_speed(text: str) -> str:
    """``1x``, ``10x`` (any positive multiple) or ``max``."""
    value = text.strip().lower()
    if value == "max":
        return value
    try:
        factor = float(value.removesuffix("x"))
    except ValueError:
        factor = 0.0
    if not value.endswith("x") or factor <= 0:
        raise ValueError(f"speed must be like 1x, 10x or max, was {text!r}")
    return value


def build_feed_config(
    venues: str,
    assets: str = "BTC,ETH",
    duration_s: float | None = None,
    limit: int | None = None,
    seed: int | None = None,
    speed: str = "max",
    settings: ConnectorSettings | None = None,
    sim_epoch_ms: int | None = None,
) -> FeedConfig:
    if duration_s is not None and duration_s <= 0:
        raise ValueError(f"duration must be positive, was {duration_s}")
    if limit is not None and limit <= 0:
        raise ValueError(f"limit must be positive, was {limit}")
    ids = parse_venues(venues)
    if duration_s is None and limit is None and SIM in ids and parse_speed(speed) == "max":
        raise ValueError("sim at max speed needs --duration or --limit")
    return FeedConfig(
        venues=ids,
        assets=parse_assets(assets),
        duration_s=duration_s,
        limit=limit,
        seed=seed,
        speed=parse_speed(speed),
        sim_epoch_ms=sim_epoch_ms,
        settings=settings or ConnectorSettings(),
    )


def connect(
    config: FeedConfig,
    sink: str,
    *,
    bootstrap: str = "",
    registry_url: str = "",
    out: TextIO | None = None,
) -> FeedStats:
    """Run the feed into Kafka or stdout; raises ``PublishError`` when Kafka lost records."""
    if sink not in SINKS:
        raise ValueError(f"sink must be one of {', '.join(SINKS)}, was {sink!r}")
    target: Sink
    if sink == "kafka":
        target_kafka = KafkaPublisher(bootstrap, registry_url)
        from connectors.sinks import KafkaSink

        target = KafkaSink(target_kafka)
    else:
        target = StdoutSink(out or sys.stdout)
    return asyncio.run(run_feed(config, target))


def record(config: FeedConfig, out_dir: Path) -> tuple[FeedStats, list[Path]]:
    """Run the feed with every venue's payloads captured, then save them as fixtures."""
    recorders: list[Recorder] = []

    def factory(venue_id: str) -> list[Venue]:
        venues = create_venues(venue_id, config.settings, seed=config.seed, speed=config.speed)
        recorders.extend(Recorder(venue.exchange, venue.id) for venue in venues)
        return list(venues)

    stats = asyncio.run(run_feed(replace(config, venue_factory=factory), MemorySink()))
    paths = [p for r in recorders for p in r.save(out_dir)]
    return stats, paths
