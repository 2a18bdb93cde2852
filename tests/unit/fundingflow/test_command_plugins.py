"""Command groups registered under ``fundingflow.commands`` join the CLI; ``bench`` is one."""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fundingflow.command_plugins import GROUP
from fundingflow.command_plugins import add_registered_commands
from fundingflow.command_plugins import registered

REPO = Path(__file__).resolve().parents[3]
PLUGIN = """
import typer

app = typer.Typer(help="A registered group.")


@app.command()
def hello() -> None:
    typer.echo("hello from the plugin")
"""


def _install_plugin(root: Path, entry_points: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A distribution on ``sys.path``: a module and its metadata, as pip would leave them."""
    (root / "ff_plugin_probe.py").write_text(PLUGIN)
    info = root / "ff_plugin_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ff-plugin-probe\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{entry_points}\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "ff_plugin_probe", raising=False)


def test_a_registered_group_becomes_a_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, "probe = ff_plugin_probe:app", monkeypatch)
    app = typer.Typer()

    @app.command()
    def version() -> None:  # a second command, so typer keeps the groups as subcommands
        typer.echo("0")

    assert "probe" in add_registered_commands(app)
    result = CliRunner().invoke(app, ["probe", "hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from the plugin\n"


def test_a_group_that_does_not_import_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path, "broken = ff_plugin_probe_missing:app", monkeypatch)
    app = typer.Typer()
    assert "broken" not in add_registered_commands(app)
    assert "broken" in [entry.name for entry in registered()]


def test_the_bench_entry_point_of_pyproject_loads_the_benchmark_commands() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    target = project["entry-points"][GROUP]["bench"]
    group = EntryPoint(name="bench", value=target, group=GROUP).load()
    assert isinstance(group, typer.Typer)
    names = {command.callback.__name__ for command in group.registered_commands if command.callback}
    assert names == {"codec", "pipeline", "offline"}
