"""Replay determinism (issue: replay, incident bundles and backtests through one code path):
a live run and three replays of what it saw — default batches, batches of 7, and one in batches
of 20 whose worker is SIGKILLed part-way through the sequenced log and restarted by the replay —
end with the same state digest, each equal to its offline replay, and the same opportunity and
decision sequences.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import RISK_DECISION
from streams.digest import form_at_cut
from streams.digest import read_digest
from tests.integration.test_replay import ASSETS
from tests.integration.test_replay import REPO
from tests.integration.test_replay import _cleanup
from tests.integration.test_replay import _env
from tests.integration.test_replay import _read_all
from tests.integration.test_streams_digest import _first_difference

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def _replay_command(namespace: str, *extra: str) -> list[str]:
    args = ["--from", "offset:0", "--to", "offset:1000000", "--into", namespace, "--digest"]
    return [sys.executable, "-m", "fundingflow", "replay", *args, "--json", *extra]


def _run(env: dict[str, str], namespace: str, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        _replay_command(namespace, *extra),
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def _run_killing_the_worker(env: dict[str, str], namespace: str, home: Path) -> dict[str, Any]:
    """Replay in batches of 20; SIGKILL its worker once it has applied part of its sequenced
    log (the ordered sequencer starts once the re-publish is complete)."""
    workdir = home / "replay" / namespace
    proc = subprocess.Popen(
        _replay_command(namespace),
        env={**env, "FUNDINGFLOW_STREAMS__SEQUENCER_BATCH_MAX": "20"},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed_at: dict[str, Any] | None = None
    deadline = time.monotonic() + 120
    while killed_at is None and time.monotonic() < deadline and proc.poll() is None:
        document = read_digest(workdir / "digest.json")
        applied = (
            sum(o for t, ps in document["cut"].items() if "md-sequenced" in t for o in ps.values())
            if document is not None
            else 0
        )
        if applied >= 25:  # of ~120 batches of market data
            pid = int((workdir / "worker.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            killed_at = document
        time.sleep(0.2)
    out, err = proc.communicate(timeout=240)
    assert killed_at is not None, f"the worker was never killed:\n{err[-3000:]}"
    assert proc.returncode == 0, err[-3000:]
    result = dict(json.loads(out))
    assert result["worker_restarts"] == 1
    result["killed_at"] = killed_at
    return result


def _sequences(bootstrap: str, codec: Any, prefix: str) -> tuple[Any, Any]:
    opportunities = {
        p: [(o.opportunity_id, o.lifecycle.value, o.envelope.event_id) for o in records]
        for p, records in _read_all(bootstrap, codec, prefix + ARB_OPPORTUNITY).items()
    }
    decisions = {
        p: [(d.decision_id, d.opportunity_id, d.outcome.value) for d in records]
        for p, records in _read_all(bootstrap, codec, prefix + RISK_DECISION).items()
    }
    return opportunities, decisions


def test_a_live_run_and_three_replays_agree(
    kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> None:
    events = syn.random_walk(2400, assets=ASSETS, step_ms=50, funding_every=4)
    uid = uuid.uuid4().hex[:6]
    spaces = {"default": f"rda{uid}", "batches-of-7": f"rdb{uid}", "killed": f"rdc{uid}"}
    with Pipeline(kafka_bootstrap, schema_registry_url, digest_interval_s=0.3) as p:
        try:
            p.start()
            p.publish(events)
            live = p.settled_after(len(events))
            p.stop()
            live_sequences = _sequences(kafka_bootstrap, p.codec, p.prefix)
            opened = [o for rs in live_sequences[0].values() for o in rs if o[1] == "OPENED"]
            assert len(opened) >= 3, "the scenario opens too little to compare"
            assert sum(len(d) for d in live_sequences[1].values()) >= 1, "no decision"

            env = _env(kafka_bootstrap, schema_registry_url, p.prefix, tmp_path)
            results = {
                "default": _run(env, spaces["default"]),
                "batches-of-7": _run(
                    {**env, "FUNDINGFLOW_STREAMS__SEQUENCER_BATCH_MAX": "7"},
                    spaces["batches-of-7"],
                ),
                "killed": _run_killing_the_worker(env, spaces["killed"], tmp_path),
            }
            for name, result in results.items():
                assert result["republished"] == len(events), name
                assert result["digest"] == result["offline_digest"], f"{name}: worker != offline"
                if result["digest"] != live["digest"]:
                    cut = {t: {int(k): v for k, v in ps.items()} for t, ps in result["cut"].items()}
                    want = form_at_cut(
                        kafka_bootstrap, schema_registry_url, live["cut"], p.settings
                    )
                    got = form_at_cut(kafka_bootstrap, schema_registry_url, cut, p.settings)
                    pytest.fail(
                        f"{name}: replay != live run: {_first_difference(want, got)}"
                        f"\nlive cut {live['cut']}\nreplay cut {result['cut']}"
                    )
                replayed = _sequences(kafka_bootstrap, p.codec, f"{spaces[name]}.{p.prefix}")
                assert replayed == live_sequences, f"{name}: other opportunities or decisions"
        finally:
            _cleanup(kafka_bootstrap, [f"{ns}." for ns in spaces.values()])
