"""``fundingflow run``: the main job, with a live view of the pipeline."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from fundingflow.monitor import TopicFlow
from fundingflow.monitor import TopicWatcher
from fundingflow.output import console
from fundingflow.settings import load_settings
from fundingflow.stack.manager import Stack

app = typer.Typer()


def _health_table(flows: list[TopicFlow], elapsed_s: float) -> Table:
    table = Table(title=f"pipeline health — {elapsed_s:,.0f}s", title_justify="left")
    for column in ("topic", "records", "records/s"):
        table.add_column(column, justify="right" if column != "topic" else "left")
    for flow in flows:
        table.add_row(flow.topic, f"{flow.records:,}", f"{flow.per_second:,.1f}")
    return table


@app.command()
def run(
    venues: Annotated[str, typer.Option(help="sim, or ccxt ids such as binance,okx,bybit")] = "sim",
    duration: Annotated[
        float | None, typer.Option(min=0, help="Stop after this many seconds; default: Ctrl-C.")
    ] = None,
    refresh: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 1.0,
) -> None:
    """Watch the pipeline's topics live until Ctrl-C (or --duration)."""
    from schemas import topics as catalogue

    settings = load_settings()
    unhealthy = [r.name for r in Stack(settings).status() if not r.healthy]
    if unhealthy:
        raise typer.BadParameter(
            f"services not healthy: {', '.join(unhealthy)}; run `fundingflow stack up` first"
        )
    console.print(f"venues: {venues} — watching {len(catalogue.CATALOGUE)} topics; Ctrl-C stops")
    watcher = TopicWatcher(settings.kafka.bootstrap, [s.name for s in catalogue.CATALOGUE])
    started = time.monotonic()
    try:
        with Live(console=console, refresh_per_second=4) as live:
            while duration is None or time.monotonic() - started < duration:
                live.update(_health_table(watcher.sample(), time.monotonic() - started))
                time.sleep(refresh)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        watcher.close()
