"""The benchmarks in tiny sizes yield every figure (values are never asserted on)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LATENCY_FIGURES = {"n", "p50", "p90", "p99", "p99.9", "max", "sent_probes", "lost", "loadavg_1m"}


def _latency_complete(figures: dict[str, Any]) -> None:
    assert figures.keys() >= LATENCY_FIGURES, figures
    assert figures["n"] > 0


def test_pipeline_bench_tiny_run_produces_every_figure(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    from benchmarks.pipeline import run_pipeline_bench

    result = run_pipeline_bench(
        True,
        kafka_bootstrap,
        schema_registry_url,
        ticks=2_000,
        rates=(500.0,),
        seconds=2.0,
        verbose=False,
    )
    baselines = result["baselines"]
    for key in ("produce_msgs_per_s", "consume_msgs_per_s", "relay_msgs_per_s"):
        assert baselines[key] > 0, key
    _latency_complete(result["hop_latency_ms"]["500"])
    _latency_complete(result["relay_latency_ms"]["500"])
    for variant in ("faust", "plain"):
        figures = result[variant]
        assert figures["ticks_per_s"] > 0, variant
        assert figures["applied"] == 2_000, variant
        _latency_complete(figures["latency_ms"]["500"])
        assert "sustained_per_s" in figures
    assert set(result["ratios"]) == {"faust_to_relay", "plain_to_relay", "faust_to_plain"}
    json.dumps(result)


def test_offline_bench_tiny_run_produces_every_figure() -> None:
    from benchmarks.offline import run_offline_bench

    result = run_offline_bench(replay_events=5_000, rss_events=20_000, verbose=False)
    assert result["replay"]["events_per_s"] > 0
    assert result["replay"]["events"] == 5_000
    rss = result["rss"]
    assert rss["events"] == 20_000
    assert {"warm_mb", "end_mb", "growth_mb", "events_per_s"} <= rss.keys()
    json.dumps(result)


def test_bench_cli_json_prints_one_document_and_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "offline.json"
    args = ["offline", "--replay-events", "2000", "--events", "10000", "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "fundingflow", "bench", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert json.loads(out.read_text()) == printed
    assert printed["replay"]["events_per_s"] > 0
