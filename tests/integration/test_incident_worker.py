"""An incident bundle of a real worker's run replays to the worker's own outputs.

The Faust worker (``benchmarks.harness.Pipeline``: its own app id and topic prefix) turns
published market data into opportunities and decisions; the export of that window, with the
worker's apply order read from its sequenced topics, replays through the reducers to exactly
what the worker published. The twin drops the apply order (timestamps alone) and must differ:
messages published within the same millisecond lose their interleaving.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from fundingflow.cli import main
from streams.bundle import read_bundle
from streams.bundle import write_bundle

pytestmark = pytest.mark.integration

TOPICS = "md.book,md.funding,arb.opportunity,risk.decision,ops.control"


@pytest.fixture(scope="module")
def exported(
    kafka_bootstrap: str, schema_registry_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("incident") / "worker.tar"
    with Pipeline(kafka_bootstrap, schema_registry_url) as p:
        p.start()
        t0 = int(time.time() * 1000)
        p.publish(
            syn.random_walk(
                1500, assets=("AAA", "BBB"), start_ms=t0, step_ms=50, funding_every=5, seed=3
            )
        )
        p.settled_digest(timeout_s=90)
        around = int(time.time() * 1000)
        argv = ["incident", "export", "--around", str(around), "--window", "10m"]
        argv += ["--namespace", p.prefix.rstrip("."), "--app-id", p.settings.app_id]
        argv += ["--topics", TOPICS, "--out", str(out)]
        assert main(argv) == 0, p.log_tail()
    return out


def test_a_workers_window_replays_to_its_own_outputs(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, manifest = read_bundle(exported)
    assert manifest["counts"]["arb.opportunity"] > 0
    assert manifest["counts"]["risk.decision"] > 0
    assert manifest["order"]["market"] == 1500  # every book and funding, as sequenced
    capsys.readouterr()
    assert main(["incident", "replay", str(exported), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {row["topic"]: row for row in report["topics"]}
    assert rows["arb.opportunity"]["same"] == manifest["counts"]["arb.opportunity"]
    assert rows["risk.decision"]["same"] == manifest["counts"]["risk.decision"]


def test_twin_without_the_apply_order_the_replay_differs(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, _ = read_bundle(exported)
    bundle.order = {}
    unordered = tmp_path / "unordered.tar"
    write_bundle(bundle, unordered)
    capsys.readouterr()
    assert main(["incident", "replay", str(unordered), "--json"]) == 1
    rows = {row["topic"]: row for row in json.loads(capsys.readouterr().out)["topics"]}
    opportunities = rows["arb.opportunity"]
    assert opportunities["missing"] + opportunities["differ"] + opportunities["extra"] > 0
