"""``fundingflow run``: connectors, worker and sinks as one supervised process group, shown live."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from fundingflow.monitor import TopicFlow
from fundingflow.monitor import TopicWatcher
from fundingflow.output import console
from fundingflow.settings import load_settings
from fundingflow.stack.manager import Stack
from fundingflow.supervisor import Child
from fundingflow.supervisor import Supervisor

if TYPE_CHECKING:
    from fundingflow.pairs_view import PairRow

app = typer.Typer()
WATCHED: tuple[str, ...] = (
    "md.book",
    "md.funding",
    "md.trade",
    "dlq.md",
    "arb.spread",
    "arb.opportunity",
    "risk.decision",
    "dlq.arb",
    "dlq.risk",
)


def _opportunity_table(open_rows: list[dict[str, str]], closed: int) -> Table:
    table = Table(
        title=f"open opportunities: {len(open_rows)} (closed so far: {closed})",
        title_justify="left",
    )
    for column in ("type", "asset", "long", "short", "net APR", "edge bps", "max size", "upd"):
        table.add_column(column, justify="left" if column in {"type", "asset"} else "right")
    for row in open_rows[:15]:
        table.add_row(*row.values())
    return table


def _pairs_table(rows: list[PairRow], total: PairRow | None) -> Table:
    """The paper executor's pairs of this run (status, legs, PnL at the last fills)."""
    title = (
        "paper pairs: none traded yet"
        if total is None
        else (
            f"paper pairs: {total.signal}, PnL {total.total_pnl_quote:.2f}"
            f" (fees {total.fees_quote:.2f}, quote currency)"
        )
    )
    table = Table(title=title, title_justify="left")
    for column in ("signal", "status", "legs", "size", "PnL", "fees"):
        table.add_column(column, justify="right" if column in ("size", "PnL", "fees") else "left")
    for r in rows:
        table.add_row(
            r.signal, r.status, r.legs, f"{r.size_base:.6g}", f"{r.total_pnl_quote:.2f}",
            f"{r.fees_quote:.2f}",
        )  # fmt: skip
    return table


def _health_table(flows: list[TopicFlow], children: list[Child], elapsed_s: float) -> Table:
    table = Table(title=f"pipeline — {elapsed_s:,.0f}s", title_justify="left")
    for column in ("topic / process", "records", "records/s"):
        table.add_column(column, justify="left" if column.startswith("topic") else "right")
    for flow in flows:
        table.add_row(flow.topic, f"{flow.records:,}", f"{flow.per_second:,.1f}")
    for child in children:
        state = "running" if child.running else f"exited {child.last_exit}"
        table.add_row(f"[bold]{child.name}[/bold]", state, f"restarts {child.restarts}")
    return table


def _worker_env(venues: str) -> dict[str, str]:
    # A first-time worker group starts at the end: this run's events, not old runs'.
    env = {"FUNDINGFLOW_STREAMS__AUTO_OFFSET_RESET": "latest"}
    if venues == "sim":
        # Fast-forwarded, the connector delivers a fraction of the sim's book updates, so a
        # leg's book is seconds of *sim* time old (well under a wall-clock second at 60x).
        env["FUNDINGFLOW_STREAMS__MARKET__STALE_AFTER_MS"] = "60000"
    return env


def pipeline_children(venues: str, assets: str, speed: str, seed: int, logs: Path) -> list[Child]:
    """The supervised processes of ``run``: worker, connectors, the event stores' sinks and,
    on the sim, the paper executor."""
    me = [sys.executable, "-m", "fundingflow"]
    connect = [*me, "connect", "--venues", venues, "--assets", assets]
    if venues == "sim":
        connect += ["--speed", speed, "--seed", str(seed), "--sim-start", "resume"]
    children = [
        Child("worker", [*me, "worker"], logs / "worker.log"),
        Child("connectors", connect, logs / "connectors.log"),
        Child("sinks", [*me, "sink"], logs / "sinks.log"),
    ]
    if venues == "sim":  # paper trading on the sim venues; live trading is `execute --live`
        children.append(Child("executor", [*me, "execute"], logs / "executor.log"))
    return children


@app.command()
def run(
    venues: Annotated[
        str, typer.Option(help="sim, or ccxt ids such as binanceusdm,okx,bybit")
    ] = "sim",
    assets: Annotated[str, typer.Option(help="Base assets.")] = "BTC,ETH,SOL,XRP,DOGE",
    speed: Annotated[str, typer.Option(help="sim clock: 1x, 10x, 15x ...")] = "15x",
    seed: Annotated[int, typer.Option(help="sim seed.")] = 7,
    duration: Annotated[
        float | None, typer.Option(min=1, help="Stop after this many seconds; default: Ctrl-C.")
    ] = None,
    refresh: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 1.0,
) -> None:
    """Run connectors, the worker and the sinks; show open opportunities and pipeline health."""
    from fundingflow.live_view import OpportunityTail
    from fundingflow.live_view import rows as live_rows
    from fundingflow.pairs_view import PairsView
    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry
    from schemas.topics import ARB_OPPORTUNITY

    settings = load_settings()
    unhealthy = [r.name for r in Stack(settings).status() if not r.healthy]
    if unhealthy:
        raise typer.BadParameter(
            f"services not healthy: {', '.join(unhealthy)}; run `fundingflow stack up` first"
        )
    logs = settings.stack.home.resolve() / "logs"
    supervisor = Supervisor(
        pipeline_children(venues, assets, speed, seed, logs), env=_worker_env(venues)
    )
    watcher = TopicWatcher(settings.kafka.bootstrap, WATCHED)
    tail = OpportunityTail(
        settings.kafka.bootstrap,
        Codec(ConfluentRegistry(settings.registry.url)),
        ARB_OPPORTUNITY,
        from_beginning=False,
    )
    console.print(
        f"logs: {logs}/worker.log, {logs}/connectors.log, {logs}/sinks.log, {logs}/executor.log"
        " — Ctrl-C stops everything"
    )
    started = time.monotonic()
    pairs_view = PairsView(
        settings.postgres.conninfo(),
        Codec(ConfluentRegistry(settings.registry.url)),
        since_ms=int(time.time() * 1000),
    )
    supervisor.start()
    try:
        with Live(console=console, refresh_per_second=4) as live:
            while duration is None or time.monotonic() - started < duration:
                for note in supervisor.poll():
                    console.log(note)
                view = tail.poll(timeout_s=0.05)
                open_rows = [
                    {
                        "type": r.kind,
                        "asset": r.asset,
                        "long": r.long_leg,
                        "short": r.short_leg,
                        "net APR": f"{r.net_apr_bps / 100:.2f}%",
                        "edge": f"{r.net_edge_bps:.1f}",
                        "size": f"{r.max_size_base:.6g}",
                        "upd": str(r.updates),
                    }
                    for r in live_rows(view)
                ]
                live.update(
                    Group(
                        _opportunity_table(open_rows, view.closed_total),
                        _pairs_table(*pairs_view.rows()),
                        _health_table(
                            watcher.sample(), supervisor.children, time.monotonic() - started
                        ),
                    )
                )
                time.sleep(refresh)
    except KeyboardInterrupt:
        console.print("stopping ...")
    finally:
        supervisor.stop()
        tail.close()
        pairs_view.close()
        watcher.close()
        console.print("stopped: " + ", ".join(c.name for c in supervisor.children))
