"""``fundingflow replay`` refuses bad input with a usage error before it touches the broker.

Kafka points at a closed port: an argument that got as far as a broker lookup would fail with
a connection error instead of the message each case expects.
"""

from __future__ import annotations

import pytest

from fundingflow.cli import EXIT_USAGE
from fundingflow.cli import main

OK = ["--from", "offset:0", "--to", "offset:10", "--into", "replay-unit"]


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDINGFLOW_KAFKA__PORT", "1")


def _with(**changes: str) -> list[str]:
    args = list(OK)
    for option, value in changes.items():
        flag = f"--{option.removesuffix('_')}"
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_with(from_="yesterday"), "--from 'yesterday' is not a time"),
        (_with(to="offset:x"), "offset:N needs a non-negative integer"),
        (_with(from_="0:1,0:2"), "partition 0 is named twice"),
        (_with(from_="2026-01-02T00:00:00Z", to="2026-01-01T00:00:00Z"), "inverted"),
        (_with(from_="offset:20", to="offset:10"), "inverted range"),
        (_with(topics="md.nope"), "unknown topic 'md.nope'"),
        (_with(topics="arb.opportunity"), "written by the stream agents"),
        (_with(into="bad/name"), "namespace 'bad/name'"),
        (_with(into="md"), "cannot be mistaken for a live topic"),
        (_with(speed="warp"), "--speed 'warp'"),
        (_with(source="tape"), "--source 'tape': use one of auto, kafka, store"),
        (_with(source="store"), "offset bounds are Kafka's"),
        (_with(source="store", to="2026-01-01T00:00:00Z"), "offset bounds are Kafka's"),
    ],
)
def test_bad_input_is_a_usage_error_with_a_clear_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", *args]) == EXIT_USAGE
    err = " ".join(capsys.readouterr().err.replace("│", " ").split())
    assert message in err


def test_a_missing_bound_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--from", "offset:0", "--into", "replay-unit"]) == EXIT_USAGE
    assert "--to" in capsys.readouterr().err


def test_twin_valid_input_gets_as_far_as_the_broker(capsys: pytest.CaptureFixture[str]) -> None:
    """The twin: the same arguments without a mistake pass every check and reach the (closed)
    broker, so the cases above were refused by the checks and not by the broker."""
    assert main(["replay", *OK]) == 1
    assert "cannot reach Kafka" in capsys.readouterr().err
