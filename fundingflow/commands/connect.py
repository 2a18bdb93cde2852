"""``fundingflow connect`` and ``fundingflow record``: venue feeds into Kafka, stdout or files.

Register with ``app.registered_commands += connect_commands.app.registered_commands``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Annotated

import typer

from fundingflow.settings import load_settings

if TYPE_CHECKING:
    from connectors.feed import FeedConfig

app = typer.Typer(help="Exchange connectors.")

Venues = Annotated[
    str, typer.Option("--venues", help="sim, or ccxt ids: binance,binanceusdm,okx,bybit")
]
Assets = Annotated[str, typer.Option("--assets", help="Base assets, e.g. BTC,ETH")]
Duration = Annotated[float | None, typer.Option("--duration", help="Seconds of venue time")]
Limit = Annotated[int | None, typer.Option("--limit", help="Stop after N records")]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed of the simulated market")]
Speed = Annotated[str, typer.Option("--speed", help="sim pacing: 1x, 10x or max")]
SimStart = Annotated[
    str,
    typer.Option(
        "--sim-start",
        help=(
            "sim clock start: 'scenario' (its fixed epoch, reproducible), 'now', 'resume' (now,"
            " or after the last event recorded on md.* when that is later), or epoch ms"
        ),
    ),
]


def parse_sim_start(text: str) -> int | None:
    """``scenario`` -> None, ``now`` -> the current minute, ``resume`` -> the current minute or,
    when the market topics already hold later events (a faster-than-wall-clock session ran
    before), the first minute past them plus a stale gap; digits -> epoch ms."""
    import time

    if text == "scenario":
        return None
    if text == "now":
        return int(time.time() // 60 * 60_000)
    if text == "resume":
        return _resume_epoch(int(time.time() * 1000))
    if text.isdigit():
        return int(text)
    raise typer.BadParameter(
        f"--sim-start must be 'scenario', 'now', 'resume' or epoch ms, was {text!r}"
    )


def _resume_epoch(now_ms: int) -> int:
    from schemas.topics import MD_BOOK
    from schemas.topics import MD_FUNDING
    from schemas.topics import MD_TRADE
    from streams.log_clock import last_event_time
    from streams.log_clock import resume_epoch

    settings = load_settings()
    last = last_event_time(
        settings.kafka.bootstrap, settings.registry.url, (MD_BOOK, MD_FUNDING, MD_TRADE)
    )
    gap_ms = max(60_000, 2 * settings.streams.market.stale_after_ms)
    return resume_epoch(last, now_ms, gap_ms)


def _feed_config(
    venues: str,
    assets: str,
    duration: float | None,
    limit: int | None,
    seed: int | None,
    speed: str,
    sim_start: str = "scenario",
) -> FeedConfig:
    from connectors.cli_commands import build_feed_config

    connector_settings = load_settings().connectors
    try:
        return build_feed_config(
            venues,
            assets,
            duration,
            limit,
            seed,
            speed,
            settings=connector_settings,
            sim_epoch_ms=parse_sim_start(sim_start),
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


@app.command()
def connect(
    venues: Venues = "sim",
    assets: Assets = "BTC,ETH",
    duration: Duration = None,
    limit: Limit = None,
    seed: Seed = None,
    speed: Speed = "max",
    sim_start: SimStart = "scenario",
    sink: Annotated[str, typer.Option("--sink", help="kafka or stdout")] = "kafka",
    order_gateway: Annotated[
        bool,
        typer.Option(
            "--order-gateway/--no-order-gateway",
            help="Serve the sim venues' accounts to a paper executor (settings: executor).",
        ),
    ] = True,
) -> None:
    """Stream books, funding and trades from venues; bad payloads go to dlq.md."""
    from connectors.cli_commands import SINKS
    from connectors.cli_commands import connect as run_connect

    if sink not in SINKS:
        raise typer.BadParameter(f"--sink must be one of {', '.join(SINKS)}, was {sink!r}")
    import dataclasses

    from fundingflow.log import configure_logging

    config = _feed_config(venues, assets, duration, limit, seed, speed, sim_start)
    settings = load_settings()
    if order_gateway and settings.executor.gateway_port:
        address = (settings.executor.gateway_host, settings.executor.gateway_port)
        config = dataclasses.replace(config, order_gateway=address)
    configure_logging(settings.log_level, settings.log_json)  # logs to stderr, data on stdout
    stats = run_connect(
        config, sink, bootstrap=settings.kafka.bootstrap, registry_url=settings.registry.url
    )
    typer.echo(
        f"published {dict(stats.published)} dead letters {dict(stats.dead_letters)} "
        f"in {stats.wall_s:.1f} s",
        err=True,
    )


@app.command()
def record(
    out: Annotated[Path, typer.Option("--out", help="Directory for the fixture files")],
    venues: Venues = "sim",
    assets: Assets = "BTC,ETH",
    duration: Duration = 10.0,
    limit: Limit = None,
    seed: Seed = None,
    speed: Speed = "max",
) -> None:
    """Save raw venue payloads as fixtures (tests/fixtures/venues format)."""
    from connectors.cli_commands import record as run_record

    config = _feed_config(venues, assets, duration, limit, seed, speed)
    stats, paths = run_record(config, out)
    typer.echo(f"recorded {len(paths)} payloads ({stats.total} events) into {out}", err=True)
