from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.cli_commands import build_feed_config
from connectors.cli_commands import parse_speed
from connectors.cli_commands import parse_venues
from fundingflow.commands.connect import app


@pytest.mark.parametrize("text", ["nope", "binance,nope", "", "sim,okx"])
def test_bad_venues(text: str) -> None:
    with pytest.raises(ValueError, match=r"venue|sim"):
        parse_venues(text)


def test_venues_accept_any_ccxt_id() -> None:
    assert parse_venues("binance, OKX,bybit,kraken") == ("binance", "okx", "bybit", "kraken")


@pytest.mark.parametrize("text", ["fast", "0x", "-1x", "10"])
def test_bad_speed(text: str) -> None:
    with pytest.raises(ValueError, match="speed"):
        parse_speed(text)


def test_sim_at_max_speed_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="duration or --limit"):
        build_feed_config("sim")


def test_cli_bad_venue_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["connect", "--venues", "nope", "--sink", "stdout"])
    assert result.exit_code == 2
    assert "unknown venue nope" in result.output


def test_cli_bad_speed_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["connect", "--speed", "warp", "--limit", "5"])
    assert result.exit_code == 2
    assert "speed must be like" in result.output


def test_cli_connect_sim_to_stdout() -> None:
    result = CliRunner().invoke(
        app, ["connect", "--venues", "sim", "--limit", "20", "--seed", "1", "--sink", "stdout"]
    )
    assert result.exit_code == 0, result.output
    every = [json.loads(ln) for ln in result.stdout.splitlines() if ln.startswith("{")]
    facts = [r for r in every if r["topic"] == "md.instrument"]
    lines = [
        ln for ln in result.stdout.splitlines() if ln.startswith("{") and "md.instrument" not in ln
    ]
    assert len(lines) == 20  # --limit bounds market records; facts come on top, before them
    assert facts
    seen: set[tuple[str, str]] = set()
    for record in every:  # each instrument's facts come before its first market record
        ref = record["value"]["instrument"]
        if record["topic"] == "md.instrument":
            seen.add((ref["exchange"], ref["symbol"]))
        elif record["topic"] != "dlq.md":
            assert (ref["exchange"], ref["symbol"]) in seen
    assert {json.loads(ln)["topic"] for ln in lines} <= {
        "md.book",
        "md.funding",
        "md.trade",
        "dlq.md",
    }


def test_cli_record_sim(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["record", "--venues", "sim", "--duration", "30", "--seed", "2", "--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("sim-*/*.json"))
    assert files
    entry = json.loads(files[-1].read_text())
    assert {"description", "method", "parsedResponse"} <= set(entry)
