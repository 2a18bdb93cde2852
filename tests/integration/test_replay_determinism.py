"""Replay determinism (issue: replay, incident bundles and backtests through one code path):
three replays of one recorded range — default batches, batches of 7, and one in batches of 20
whose worker is SIGKILLed part-way through its sequenced log and restarted by the replay — end
with the same state digest, each equal to its offline replay, and the same opportunity and
decision sequences.

Not asserted: equality with the live run that recorded the range. The live sequencer applies
the market topics in arrival order, a replay in the ordered merge's (broker time, topic rank,
partition, offset) order; here the recording publishes books and funding in bulk, so the two
orders differ and so do the states (a replay that follows the live run's own sequenced log is
the next step).
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
from streams.digest import read_digest
from tests.integration.test_replay import ASSETS
from tests.integration.test_replay import REPO
from tests.integration.test_replay import _cleanup
from tests.integration.test_replay import _env
from tests.integration.test_replay import _read_all

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


def _distinct(sequences: tuple[Any, Any]) -> tuple[Any, Any]:
    """Each partition's records, a record seen again dropped (first occurrence kept)."""

    def once(records: list[Any]) -> list[Any]:
        return list(dict.fromkeys(records))

    opportunities, decisions = sequences
    return (
        {p: once(rs) for p, rs in opportunities.items()},
        {p: once(rs) for p, rs in decisions.items()},
    )


def test_three_replays_of_one_range_agree_batched_and_killed_alike(
    kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> None:
    events = syn.random_walk(2400, assets=ASSETS, step_ms=50, funding_every=4)
    uid = uuid.uuid4().hex[:6]
    spaces = {"default": f"rda{uid}", "batches-of-7": f"rdb{uid}", "killed": f"rdc{uid}"}
    with Pipeline(kafka_bootstrap, schema_registry_url, digest_interval_s=0.3) as p:
        try:
            p.start()
            p.publish(events)
            p.settled_after(len(events))  # recorded: the range to replay
            p.stop()
            env = _env(kafka_bootstrap, schema_registry_url, p.prefix, tmp_path)
            results = {
                "default": _run(env, spaces["default"]),
                "batches-of-7": _run(
                    {**env, "FUNDINGFLOW_STREAMS__SEQUENCER_BATCH_MAX": "7"},
                    spaces["batches-of-7"],
                ),
                "killed": _run_killing_the_worker(env, spaces["killed"], tmp_path),
            }
            sequences: dict[str, tuple[Any, Any]] = {}
            for name, result in results.items():
                assert result["republished"] == len(events), name
                assert result["digest"] == result["offline_digest"], f"{name}: worker != offline"
                sequences[name] = _sequences(kafka_bootstrap, p.codec, f"{spaces[name]}.{p.prefix}")
            digests = {name: result["digest"] for name, result in results.items()}
            assert len(set(digests.values())) == 1, f"the replays differ: {digests}"
            assert sequences["batches-of-7"] == sequences["default"]
            # a killed worker re-sends what it had sent but not committed (at least once):
            # its outputs are the same records, in the same order, once duplicates are dropped
            assert _distinct(sequences["killed"]) == sequences["default"]
            opened = [o for rs in sequences["default"][0].values() for o in rs if o[1] == "OPENED"]
            assert len(opened) >= 3, "the scenario opens too little to compare"
            assert sum(len(d) for d in sequences["default"][1].values()) >= 1, "no decision"
        finally:
            _cleanup(kafka_bootstrap, [f"{ns}." for ns in spaces.values()])
