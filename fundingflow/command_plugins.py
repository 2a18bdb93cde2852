"""Command groups registered by other installed packages.

A package adds ``fundingflow NAME`` by declaring a ``typer.Typer`` under the
``fundingflow.commands`` entry-point group (``NAME = "module:attribute"`` in its
``pyproject.toml``). This is how ``fundingflow bench`` reaches ``benchmarks``, which sits above
the product: the shell never imports it by name. Entry points are read from the installed
metadata, so a new one appears after ``pip install -e .`` (``make install``).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint
from importlib.metadata import entry_points

import typer

from fundingflow.output import err_console

GROUP = "fundingflow.commands"


def registered() -> list[EntryPoint]:
    """The group's entry points, one per name (the first found on ``sys.path`` wins), by name."""
    chosen: dict[str, EntryPoint] = {}
    for entry in entry_points(group=GROUP):
        chosen.setdefault(entry.name, entry)
    return [chosen[name] for name in sorted(chosen)]


def add_registered_commands(app: typer.Typer) -> list[str]:
    """Add every registered group to ``app``; returns the names added.

    A group that fails to import is reported on stderr and left out, so a broken optional
    package cannot take the whole shell (``stack``, ``run``, ...) down with it.
    """
    added: list[str] = []
    for entry in registered():
        try:
            group = entry.load()
        except ImportError as exc:
            err_console.print(f"fundingflow {entry.name}: not available ({exc})")
            continue
        if not isinstance(group, typer.Typer):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a typer.Typer")
        app.add_typer(group, name=entry.name)
        added.append(entry.name)
    return added
