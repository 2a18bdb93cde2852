"""Scale-out on the real broker: workers of one app id split the partitions, and their outputs
together are one worker's outputs on the same input; a worker joining mid-stream (a rebalance)
loses nothing and doubles nothing (a redelivered batch re-sends only identical records, which
carry the same event ids)."""

from __future__ import annotations

import functools
import operator
import subprocess
import time
from collections import Counter
from typing import Any

import pytest

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from schemas.avro_record import AvroRecord
from schemas.records.arb import Opportunity
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from streams.worker import start_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ASSETS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
Items = list[tuple[str, AvroRecord]]


def _scenario() -> tuple[Items, Items]:
    """Funding first, then books: inside a partition the books keep their publish order, so
    every run applies the same sequence and the outputs are comparable run to run."""
    events: Items = list(syn.random_walk(3200, assets=ASSETS, step_ms=50, funding_every=4))
    funding = [e for e in events if e[0] == MD_FUNDING]
    books = [e for e in events if e[0] == MD_BOOK]
    return funding, books


def _opportunities(seen: list[tuple[str, AvroRecord]]) -> list[Opportunity]:
    return [r for _, r in seen if isinstance(r, Opportunity)]


def _settled(p: Pipeline, quiet_s: float = 6.0, timeout_s: float = 120.0) -> list[Opportunity]:
    """Every opportunity record, once none has arrived for ``quiet_s`` after books were applied."""
    count, since = -1, time.monotonic()
    deadline = time.monotonic() + timeout_s

    def grown(seen: list[tuple[str, AvroRecord]]) -> bool:
        return len(seen) != count

    while time.monotonic() < deadline:
        now = len(p.collect([ARB_OPPORTUNITY], grown, timeout_s=1.0))
        if now != count:
            count, since = now, time.monotonic()
        elif count > 0 and time.monotonic() - since >= quiet_s:
            break
    return _opportunities(p.collect([ARB_OPPORTUNITY], lambda _s: True, timeout_s=0.5))


def _feed(p: Pipeline, funding: Items, books: Items) -> None:
    p.publish(funding)
    time.sleep(4.0)  # funding sequenced and applied before any book
    p.publish(books)


def _extra_worker(p: Pipeline, name: str) -> subprocess.Popen[bytes]:
    settings = p.settings.model_copy(update={"digest_path": None})
    return start_worker(settings, p.workdir / f"{name}.log")


def _members(p: Pipeline) -> dict[str, list[Any]]:
    """Consumer-group member -> assigned partitions of the market agent's sequenced topic."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": p.bootstrap})
    group = admin.describe_consumer_groups([p.settings.app_id])[p.settings.app_id].result(10)
    return {
        m.member_id: [
            tp.partition
            for tp in m.assignment.topic_partitions
            if tp.topic == p.settings.md_sequenced
        ]
        for m in group.members
    }


def _by_id(records: list[Opportunity]) -> dict[str, Opportunity]:
    return {r.envelope.event_id: r for r in records}


def _assert_same_outputs(reference: list[Opportunity], got: list[Opportunity]) -> None:
    want = _by_id(reference)
    have = _by_id(got)
    assert set(have) == set(want), (
        f"missing {len(set(want) - set(have))}, extra {len(set(have) - set(want))}"
    )
    assert all(have[i] == want[i] for i in want)
    for event_id, n in Counter(r.envelope.event_id for r in got).items():
        if n > 1:  # a redelivered batch: the very same record again, never a different one
            assert all(r == want[event_id] for r in got if r.envelope.event_id == event_id)


@pytest.fixture(scope="module")
def reference(kafka_bootstrap: str, schema_registry_url: str) -> list[Opportunity]:
    """One worker's opportunities on the scenario."""
    funding, books = _scenario()
    with Pipeline(kafka_bootstrap, schema_registry_url) as p:
        p.start()
        _feed(p, funding, books)
        out = _settled(p)
    assert len({r.opportunity_id for r in out}) >= 3, "the scenario opens too little to compare"
    return out


def test_two_workers_split_the_partitions_and_their_union_is_one_workers_output(
    kafka_bootstrap: str, schema_registry_url: str, reference: list[Opportunity]
) -> None:
    funding, books = _scenario()
    with Pipeline(kafka_bootstrap, schema_registry_url) as p:
        p.start()
        second = _extra_worker(p, "second")
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                members = _members(p)
                if len(members) == 2 and all(members.values()):
                    break
                time.sleep(0.5)
            members = _members(p)
            assert len(members) == 2
            assert all(members.values()), f"a worker got no partition: {members}"
            assert sorted(functools.reduce(operator.iadd, members.values(), [])) == list(
                range(p.settings.md_partitions)
            )
            _feed(p, funding, books)
            got = _settled(p)
        finally:
            second.terminate()
            second.wait(30)
    _assert_same_outputs(reference, got)


def test_a_worker_joining_mid_stream_loses_and_doubles_nothing(
    kafka_bootstrap: str, schema_registry_url: str, reference: list[Opportunity]
) -> None:
    funding, books = _scenario()
    half = len(books) // 2
    with Pipeline(kafka_bootstrap, schema_registry_url) as p:
        p.start()
        _feed(p, funding, books[:half])
        joined = _extra_worker(p, "joined")
        try:
            time.sleep(1.0)  # the rebalance starts while the second half arrives
            p.publish(books[half:])
            got = _settled(p)
        finally:
            joined.terminate()
            joined.wait(30)
    _assert_same_outputs(reference, got)
