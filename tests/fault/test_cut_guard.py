"""Cut guard: the worker's state includes every sequenced batch once, whatever Faust's offsets say.

Fault: the worker group's committed offsets run ahead of the state its tables recovered (what a
stop does when its offsets commit but the last changelog writes never land; seen as a worker
that never settles after a restart, or settles on a state missing batches). Here the committed
offsets are moved to the log's end while the worker is down and batches were sequenced after
its state. Guard: :mod:`streams.cut_guard` (a batch above its partition's stored cut rewinds the
partition; a partition past its cut with nothing applied is rewound after ``stall_after_s``).
Oracle: the live digest equals the offline replay of the sequenced log up to the live cut, and
that cut is the log's end. Twins: the same with the guard off (``stall_after_s=None``) never
reaches the end (lost tail), or reaches it on a state missing the lost batches (gap).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from schemas.records.stream import SequencedBatch
from streams.digest import digest_at_cut
from streams.digest import read_cut
from streams.digest import read_digest
from streams.sequencer import start_sequencer

pytestmark = [pytest.mark.fault, pytest.mark.integration, pytest.mark.timeout(200)]

START_MS = 1_767_225_600_000


def _pipeline(bootstrap: str, registry_url: str, stall_after_s: float | None) -> Pipeline:
    return Pipeline(bootstrap, registry_url, digest_interval_s=0.3, stall_after_s=stall_after_s)


def _sequenced(p: Pipeline) -> int:
    """Market events in the md-sequenced log."""
    md = p.settings.md_sequenced
    return sum(
        len(p.codec.decode_as(raw, SequencedBatch).values)
        for _, _offset, raw in read_cut(p.bootstrap, {md: p.end_offsets(md)})
    )


def _sequence_while_the_worker_is_down(p: Pipeline, events: Any, total: int) -> None:
    """Run the sequencer alone until ``total`` market events are in the sequenced log."""
    thread, stop = start_sequencer(p.settings, p.codec)
    try:
        p.publish(events)
        deadline = time.monotonic() + 60
        while _sequenced(p) < total:
            assert time.monotonic() < deadline, f"{_sequenced(p)} of {total} sequenced"
            time.sleep(0.3)
    finally:
        stop.set()
        thread.join(30)


def _commit_worker_offsets_at_the_end(p: Pipeline) -> None:
    """The worker group's committed offsets of both sequenced topics at the log's end."""
    consumer = Consumer({"bootstrap.servers": p.bootstrap, "group.id": p.settings.app_id})
    try:
        offsets = [
            TopicPartition(topic, partition, end)
            for topic in (p.settings.md_sequenced, p.settings.risk_sequenced)
            for partition, end in p.end_offsets(topic).items()
        ]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def _restart_ahead_of_the_state(p: Pipeline) -> int:
    """A settled first session, then batches sequenced while it is down and its committed
    offsets moved past them; returns the market events in the log."""
    first = syn.random_walk(600, step_ms=50, start_ms=START_MS)
    p.start()
    p.publish(first)
    p.settled_after(len(first))
    p.stop()
    second = syn.random_walk(300, step_ms=50, seed=11, start_ms=START_MS + 600 * 50)
    _sequence_while_the_worker_is_down(p, second, len(first) + len(second))
    _commit_worker_offsets_at_the_end(p)
    p.start()
    return len(first) + len(second)


def _live_and_replayed(p: Pipeline, settle_s: float) -> tuple[dict[str, Any], str, bool]:
    """(last live digest, replay digest at the log's end, whether the worker settled there)."""
    try:
        live, settled = p.settled_digest(timeout_s=settle_s), True
    except TimeoutError:
        assert p.settings.digest_path is not None
        last = read_digest(p.settings.digest_path)
        assert last is not None
        live, settled = last, False
    ends = {t: p.end_offsets(t) for t in (p.settings.md_sequenced, p.settings.risk_sequenced)}
    replayed = digest_at_cut(p.bootstrap, p.settings.registry_url, ends, p.settings)
    return live, replayed, settled


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "twin-guard-off"])
def test_a_lost_tail_is_rewound_and_applied(
    kafka_bootstrap: str, schema_registry_url: str, guard: bool
) -> None:
    with _pipeline(kafka_bootstrap, schema_registry_url, 2.0 if guard else None) as p:
        total = _restart_ahead_of_the_state(p)
        live, replayed, settled = _live_and_replayed(p, settle_s=30 if guard else 15)
        if guard:
            assert settled, p.log_tail()
            assert live["digest"] == replayed
            assert "sequenced_partition_stalled" in p.log_tail(200_000)
        else:  # the twin: the worker never applies what was sequenced while it was down
            assert not settled
            assert live["digest"] != replayed
        assert _sequenced(p) == total


@pytest.mark.parametrize("guard", [True, False], ids=["guard", "twin-guard-off"])
def test_a_gap_before_newer_batches_is_rewound_and_applied_in_order(
    kafka_bootstrap: str, schema_registry_url: str, guard: bool
) -> None:
    # a long stall time: only the gap check can act in time
    with _pipeline(kafka_bootstrap, schema_registry_url, 30.0 if guard else None) as p:
        total = _restart_ahead_of_the_state(p)
        third = syn.random_walk(300, step_ms=50, seed=13, start_ms=START_MS + 900 * 50)
        p.publish(third)  # every asset: each partition gets batches above the lost ones
        deadline = time.monotonic() + 60
        while _sequenced(p) < total + len(third):
            assert time.monotonic() < deadline, p.log_tail()
            time.sleep(0.3)
        live, replayed, settled = _live_and_replayed(p, settle_s=25)
        assert settled, p.log_tail()  # with or without the guard every partition moves on
        if guard:
            assert live["digest"] == replayed
            assert "sequenced_gap_filled" in p.log_tail(200_000)
        else:  # the twin: the batches between the recovered state and the commit are lost
            assert live["digest"] != replayed
