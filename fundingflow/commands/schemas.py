"""``fundingflow schemas generate | register | check``: the event contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fundingflow.output import err_console
from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import load_settings
from schemas.errors import FundingflowError

app = typer.Typer(help="Avro schemas: generated records, registry subjects, compatibility.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


class SchemaCheckFailed(FundingflowError):  # noqa: N818 - reads as the outcome
    """A schema change would break compatibility."""


@app.command()
def generate(
    out: Annotated[
        Path | None, typer.Option(help="Output folder; default schemas/records.")
    ] = None,
) -> None:
    """Regenerate the typed records from the .avsc files."""
    from schemas import codegen

    written = codegen.generate(out) if out is not None else codegen.generate()
    err_console.print(f"generated {len(written)} modules")


@app.command()
def register(as_json: JsonFlag = False) -> None:
    """Set compatibility and register every catalogue subject in the registry."""
    from schemas.registry import ConfluentRegistry
    from schemas.registry import register_all
    from schemas.subjects import COMPATIBILITY

    ids = register_all(ConfluentRegistry(load_settings().registry.url))
    if as_json:
        print_json(ids)
        return
    print_table(
        f"registered subjects ({COMPATIBILITY})", ["subject", "schema id"], sorted(ids.items())
    )


@app.command()
def check(
    offline: Annotated[
        bool, typer.Option("--offline", help="Check against released history, no registry.")
    ] = False,
) -> None:
    """Fail (exit 1) when a current schema is incompatible with what was released."""
    from schemas.subjects import check_offline

    problems = check_offline()
    if not offline:
        from schemas.registry import ConfluentRegistry
        from schemas.registry import check_all

        problems += check_all(ConfluentRegistry(load_settings().registry.url))
    if problems:
        for problem in problems:
            err_console.print(f"[red]incompatible[/red] {problem}")
        raise SchemaCheckFailed(f"{len(problems)} compatibility problem(s)")
    err_console.print("all schemas compatible")
