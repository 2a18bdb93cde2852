"""``fundingflow db migrate | status``: the ledger's schema migrations."""

from __future__ import annotations

import typer

from fundingflow.output import err_console
from fundingflow.settings import load_settings
from fundingflow.stack import migrations

app = typer.Typer(help="PostgreSQL ledger schema.")


@app.command()
def migrate() -> None:
    """Apply every migration that has not been applied yet."""
    applied = migrations.apply(load_settings())
    err_console.print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
