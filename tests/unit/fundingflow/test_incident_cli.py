"""``fundingflow incident``: argument parsing and refusals that need no broker."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from fundingflow.cli import main
from fundingflow.commands.incident import parse_duration_ms
from fundingflow.commands.incident import parse_time_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [("10m", 600_000), ("90s", 90_000), ("1h", 3_600_000), ("500ms", 500), ("2", 2000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["0s", "0", "-5m", "ten minutes", "5 weeks", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration_ms(text)


def test_times() -> None:
    assert parse_time_ms("1767225600000") == 1_767_225_600_000
    assert parse_time_ms("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert parse_time_ms("2026-01-01T00:00:00") == 1_767_225_600_000  # UTC unless it says so
    assert parse_time_ms("2026-01-01T01:00:00+01:00") == 1_767_225_600_000
    with pytest.raises(typer.BadParameter):
        parse_time_ms("yesterday")


def test_replay_refuses_a_missing_or_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incident", "replay", str(tmp_path / "absent.tar")]) == 1
    assert "cannot read" in capsys.readouterr().err
    foreign = tmp_path / "foreign.tar"
    foreign.write_bytes(b"\x00" * 100)
    assert main(["incident", "replay", str(foreign)]) == 1
    assert "error:" in capsys.readouterr().err


def test_replay_refuses_a_bad_namespace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from streams.bundle import write_bundle
    from tests.unit.streams.test_incident_bundle import _scenario
    from tests.unit.streams.test_incident_bundle import make_bundle

    out = tmp_path / "b.tar"
    write_bundle(make_bundle(_scenario()), out)
    assert main(["incident", "replay", str(out), "--into", "bad name!"]) == 2
    assert "--into" in capsys.readouterr().err
