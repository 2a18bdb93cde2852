"""``fundingflow stack up | down | status | logs | clean``: the local stack."""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated

import typer

from fundingflow.log import configure_logging
from fundingflow.output import err_console
from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import load_settings
from fundingflow.stack import processes
from fundingflow.stack.manager import ServiceStatus
from fundingflow.stack.manager import Stack
from fundingflow.stack.manager import ensure_home
from schemas.errors import StackError

app = typer.Typer(help="Run Kafka, the schema registry, PostgreSQL and QuestDB locally.")

Services = Annotated[
    list[str] | None, typer.Argument(help="Services (postgres, kafka, registry, questdb); all.")
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
Owner = Annotated[
    str, typer.Option(help="Tag recorded on what this call starts (see `down --owner`).")
]


def _show(rows: list[ServiceStatus], as_json: bool) -> None:
    if as_json:
        print_json([dataclasses.asdict(r) for r in rows])
        return
    print_table(
        "fundingflow local stack",
        ["service", "endpoint", "health", "version", "pid", "started by", "data"],
        [
            (
                r.name,
                r.endpoint,
                "healthy" if r.healthy else f"down: {r.detail}" if r.detail else "down",
                r.version,
                r.pid,
                r.owner,
                r.data,
            )
            for r in rows
        ],
    )


@app.command()
def up(services: Services = None, owner: Owner = "user", as_json: JsonFlag = False) -> None:
    """Install (from package registries, cached under .local/) and start the stack."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    ensure_home(settings)
    stack = Stack(settings)
    started = time.monotonic()

    def progress(service: str, message: str) -> None:
        err_console.print(f"[bold]{service:<9}[/bold] {message}")

    rows = stack.up(services, owner=owner, progress=progress)
    err_console.print(f"stack ready in {time.monotonic() - started:.1f}s")
    _show(rows, as_json)


@app.command()
def down(
    services: Services = None,
    owner: Annotated[
        str | None, typer.Option(help="Stop only services that were started with this tag.")
    ] = None,
) -> None:
    """Stop what `stack up` started (its own processes only)."""
    stopped = Stack(load_settings()).down(services, owner=owner)
    err_console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@app.command()
def clean() -> None:
    """Stop the stack and delete its data and downloads: the stack home (.local/) and,
    when running as root, PostgreSQL's data outside it."""
    removed = Stack(load_settings()).clean()
    err_console.print("removed: " + (", ".join(map(str, removed)) if removed else "nothing"))


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Service, endpoint, health and version of each service; exit 1 when any is down."""
    rows = Stack(load_settings()).status()
    _show(rows, as_json)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@app.command()
def logs(
    service: Annotated[str, typer.Argument(help="postgres, kafka, registry or questdb")],
    lines: Annotated[int, typer.Option(help="How many last lines; 0 prints everything.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing.")] = False,
) -> None:
    """Print a service's log."""
    path = Stack(load_settings()).log_path(service)
    if not path.is_file():
        raise StackError(f"{service} has no log yet ({path}); start it with `fundingflow stack up`")
    if lines == 0:
        typer.echo(path.read_text(errors="replace"), nl=False)
    else:
        typer.echo(processes.tail(path, lines))
    if follow:
        with path.open("r", errors="replace") as handle:
            handle.seek(0, 2)
            while True:
                chunk = handle.read()
                if chunk:
                    typer.echo(chunk, nl=False)
                else:
                    time.sleep(0.5)
