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
