"""``fundingflow sink`` arguments, and ``fundingflow run`` supervising the sinks."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from connectors.storage.consumption import Backoff
from fundingflow.cli import app
from fundingflow.commands.run import pipeline_children


def test_run_supervises_the_sinks(tmp_path: Path) -> None:
    children = {c.name: c for c in pipeline_children("sim", "BTC", "15x", 7, tmp_path)}
    assert children["sinks"].argv[-1] == "sink"
    assert children["sinks"].log_path == tmp_path / "sinks.log"


def test_an_unknown_sink_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["sink", "--only", "mongodb"])
    assert result.exit_code == 2
    assert "postgres, questdb" in result.output


def test_topics_outside_every_sink_are_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["sink", "--topics", "md.kline", "--metrics-port", "0"])
    assert result.exit_code == 2
    assert "no topic to store" in result.output


def test_backoff_doubles_up_to_its_maximum() -> None:
    backoff = Backoff(initial_s=0.5, maximum_s=3.0)
    assert [backoff.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
