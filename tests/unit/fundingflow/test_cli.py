"""The CLI's documented exit codes: 2 for a bad argument, 78 for bad configuration."""

from __future__ import annotations

import pytest

from fundingflow.cli import EXIT_CONFIG
from fundingflow.cli import EXIT_USAGE
from fundingflow.cli import main


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "stack" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == EXIT_USAGE
    assert "No such command" in capsys.readouterr().err


def test_bad_option_value_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "logs", "kafka", "--lines", "many"]) == EXIT_USAGE
    assert "Invalid value" in capsys.readouterr().err


def test_bad_configuration_exits_78_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FUNDINGFLOW_KAFKA__PORT", "secret-looking-value")
    assert main(["stack", "status"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "kafka.port" in err
    assert "secret-looking-value" not in err


def test_unknown_service_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "logs", "zookeeper"]) == 1
    assert "unknown service 'zookeeper'" in capsys.readouterr().err


def test_connect_sim_start_now_puts_the_sim_clock_at_the_current_minute(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json
    import time

    argv = ["connect", "--venues", "sim", "--limit", "3", "--sim-start", "now", "--sink", "stdout"]
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len([ln for ln in lines if ln["topic"] != "md.instrument"]) == 3  # facts on top
    now_ms = time.time() * 1000
    for line in lines:
        assert abs(line["value"]["envelope"]["event_time_ms"] - now_ms) < 300_000


def test_connect_rejects_a_bad_sim_start(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["connect", "--venues", "sim", "--limit", "1", "--sim-start", "soon", "--sink", "stdout"]
    assert main(argv) == EXIT_USAGE
    assert "--sim-start" in capsys.readouterr().err
