"""A second session on the same stack resumes output even when the first ran ahead of the wall
clock (the sim at 15x); its twin, restarting the sim clock at "now", produces nothing.

The worker keeps the newest record per instrument and ignores records that are not newer (its
idempotency rule). A first session publishes events from ``T``; the second session's clock is
placed by :func:`streams.log_clock.resume_epoch` from the tail of the recorded topics, so its
events are newer and change the state. The twin starts the second session at ``T`` again (what
``--sim-start now`` does when the first session's clock ran ahead): every record of it is older
than the stored ones, the state does not move, and the first session's opportunities stay open.
"""

from __future__ import annotations

import pytest

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from streams.log_clock import last_event_time
from streams.log_clock import resume_epoch

START_MS = 1_767_225_600_000
GAP_MS = 120_000


def _second_session_moves_state(
    kafka_bootstrap: str, registry_url: str, *, resume: bool
) -> tuple[str, str, int]:
    first = syn.random_walk(900, step_ms=50, start_ms=START_MS)
    with Pipeline(kafka_bootstrap, registry_url, digest_interval_s=0.3) as p:
        p.start()
        p.publish(first)
        straight = str(p.settled_after(len(first))["digest"])
        p.stop()
        last = last_event_time(
            kafka_bootstrap, registry_url, (p.prefix + MD_BOOK, p.prefix + MD_FUNDING)
        )
        assert last == first[-1][1].envelope.event_time_ms
        # the wall clock is where the first session started: it ran ahead of it
        epoch = resume_epoch(last, START_MS, GAP_MS) if resume else START_MS
        # the second session's first half-minute: the first one's ended at T + 45 s
        second = syn.random_walk(450, step_ms=50, seed=11, start_ms=epoch)
        p.start()
        p.publish(second)
        rerun = str(p.settled_after(len(first) + len(second))["digest"])
        assert p.worker is not None
        assert p.worker.poll() is None
        return straight, rerun, epoch


def test_a_resumed_session_starts_after_the_log_and_changes_the_state(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    straight, rerun, epoch = _second_session_moves_state(
        kafka_bootstrap, schema_registry_url, resume=True
    )
    assert epoch > START_MS + 900 * 50
    assert rerun != straight, "the second session's events changed nothing"


def test_twin_restarting_the_sim_clock_at_now_changes_nothing(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    straight, rerun, _epoch = _second_session_moves_state(
        kafka_bootstrap, schema_registry_url, resume=False
    )
    with pytest.raises(AssertionError, match="changed nothing"):
        assert rerun != straight, "the second session's events changed nothing"
