"""``fundingflow sink``: the PostgreSQL and QuestDB sinks, as consumer groups, until stopped.

Register with ``app.registered_commands += sink_commands.app.registered_commands``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from fundingflow.settings import LOOPBACK
from fundingflow.settings import load_settings

app = typer.Typer(help="Event stores.")

DEFAULT_METRICS_PORT = 9464


@app.command()
def sink(
    only: Annotated[
        str | None, typer.Option("--only", help="postgres or questdb (default: both)")
    ] = None,
    topics: Annotated[
        str | None, typer.Option(help="Comma-separated catalogue topics (default: all stored)")
    ] = None,
    topic_prefix: Annotated[str, typer.Option(help="Namespace prefix of the topics read")] = "",
    group_prefix: Annotated[str, typer.Option(help="Consumer group prefix")] = "fundingflow-sink",
    table_prefix: Annotated[str, typer.Option(help="Prefix of the QuestDB table names")] = "",
    pg_schema: Annotated[
        str | None, typer.Option(help="PostgreSQL schema of the event tables (search_path)")
    ] = None,
    batch: Annotated[int, typer.Option(min=1, help="Events per batch at most")] = 10_000,
    metrics_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Prometheus /metrics port (0: none)")
    ] = DEFAULT_METRICS_PORT,
    metrics_host: Annotated[str, typer.Option(help="Address of the /metrics server")] = LOOPBACK,
) -> None:
    """Store events: PostgreSQL (decisions, orders, fills, portfolio) and QuestDB (market data,
    spreads, PnL); offsets are committed only after the database has the batch."""
    from prometheus_client import start_http_server

    from connectors.storage.runner import SINK_NAMES
    from connectors.storage.runner import SinkConfig
    from connectors.storage.runner import postgres_sink
    from connectors.storage.runner import questdb_sink
    from connectors.storage.runner import run_all
    from fundingflow.log import configure_logging

    if only is not None and only not in SINK_NAMES:
        raise typer.BadParameter(f"--only must be one of {', '.join(SINK_NAMES)}, was {only!r}")
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    config = SinkConfig(
        bootstrap=settings.kafka.bootstrap,
        registry_url=settings.registry.url,
        group_prefix=group_prefix,
        topic_prefix=topic_prefix,
        topics=frozenset(t.strip() for t in topics.split(",") if t.strip()) if topics else None,
        batch_max=batch,
    )
    loops = []
    if only in (None, "postgres"):
        options = f"-c search_path={pg_schema}" if pg_schema else None
        loops.append(postgres_sink(config, settings.postgres.conninfo(), options=options))
    if only in (None, "questdb"):
        q = settings.questdb
        loops.append(questdb_sink(config, q.host, q.http_port, table_prefix=table_prefix))
    loops = [lp for lp in loops if lp.config.topics]
    if not loops:
        raise typer.BadParameter("no topic to store: --topics names none of the sink's topics")
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    typer.echo(f"sinks: {', '.join(lp.config.name for lp in loops)}", err=True)
    run_all(loops, stop)
