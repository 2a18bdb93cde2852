"""Every ``--json`` prints exactly one JSON document; ``connect --sink stdout`` only JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "FUNDINGFLOW_LOG_LEVEL": "DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "fundingflow", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("scan", "--venues", "sim", "--json"),
        ("scan", "--venues", "sim", "--all", "--json"),
        ("bench", "codec", "--seconds", "0.05", "--json"),
    ],
)
def test_json_commands_print_one_document(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.returncode == 0, result.stderr
    json.loads(result.stdout)


def test_connect_stdout_prints_only_json_lines() -> None:
    result = _run("connect", "--venues", "sim", "--sink", "stdout", "--limit", "50")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) >= 50
    for line in lines:
        assert isinstance(json.loads(line), dict), line
