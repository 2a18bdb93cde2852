"""A replay whose range holds instrument facts (real broker): the worker's digest equals the
offline replay of its sequenced log.

The facts are published as any keyed producer publishes them (librdkafka's default
partitioner: the partition of their key, the instrument), not in their asset's partition, so
most land beside another asset's books. Twin: a worker that sequences each fact in the
partition it was read from splits an asset's records over two sequenced partitions, and its
state then depends on how the worker happened to interleave them: its digest differs from the
offline replay's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import delete_topics
from benchmarks.isolation import publish_records
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.records.md import InstrumentFacts
from schemas.registry import ConfluentRegistry
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import by_name
from schemas.topics import key_for
from schemas.topics import partition_for
from schemas.topics import partition_key_for
from streams.config import StreamsSettings
from streams.digest import digest_at_cut
from streams.replay import ReplayResult
from streams.replay import ReplayRun
from streams.replay import plan_range
from streams.replay_range import parse_bound
from tests.integration.test_replay import ASSETS
from tests.integration.test_replay import _cleanup

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

TOPICS = [MD_INSTRUMENT, MD_BOOK, MD_FUNDING]
VENUES = ("ex-a", "ex-b", "ex-c")


def _inputs() -> list[tuple[str, AvroRecord]]:
    walk = syn.random_walk(900, assets=ASSETS, venues=VENUES, step_ms=50, funding_every=4)
    start = walk[0][1].envelope.event_time_ms
    facts: list[tuple[str, AvroRecord]] = [
        (MD_INSTRUMENT, syn.facts(v, f"{a}/USDT:USDT", start - 1000))
        for a in ASSETS
        for v in VENUES
    ]
    # some facts again mid-stream (a venue changing its fees or lots is a new fact)
    mid = walk[len(walk) // 2][1].envelope.event_time_ms
    again: list[tuple[str, AvroRecord]] = [
        (MD_INSTRUMENT, syn.facts(v, f"{a}/USDT:USDT", mid)) for a in ASSETS[::2] for v in VENUES
    ]
    return [*facts, *walk[: len(walk) // 2], *again, *walk[len(walk) // 2 :]]


def _replay(
    bootstrap: str, registry_url: str, prefix: str, namespace: str, workdir: Path
) -> ReplayResult:
    base = StreamsSettings(bootstrap=bootstrap, registry_url=registry_url, topic_prefix=prefix)
    plan = plan_range(
        bootstrap,
        TOPICS,
        parse_bound("offset:0"),
        parse_bound("offset:100000"),
        explicit=True,
        source_prefix=prefix,
    )
    run = ReplayRun(base, namespace, plan, workdir, offline_check=True, timeout_s=120)
    return run.run()


@pytest.fixture(scope="module")
def recorded(kafka_bootstrap: str, schema_registry_url: str) -> Iterator[tuple[str, int]]:
    """The recorded range (its topic prefix) and how many facts sit outside their asset's
    partition."""
    prefix = f"t{uuid.uuid4().hex[:8]}."
    codec = Codec(ConfluentRegistry(schema_registry_url))
    create_prefixed_topics(kafka_bootstrap, prefix, [*TOPICS])
    items = _inputs()
    publish_records(kafka_bootstrap, codec, items, prefix)  # keyed: the key's partition
    n = by_name(MD_INSTRUMENT).partitions
    elsewhere = sum(
        1
        for _t, r in items
        if isinstance(r, InstrumentFacts)
        and partition_for(key_for(r), n) != partition_for(partition_key_for(r), n)
    )
    try:
        yield prefix, elsewhere
    finally:
        _cleanup(kafka_bootstrap, [prefix])


def test_a_replay_with_instrument_facts_matches_its_offline_replay(
    kafka_bootstrap: str, schema_registry_url: str, recorded: tuple[str, int], tmp_path: Path
) -> None:
    prefix, elsewhere = recorded
    assert elsewhere >= 10, "the scenario puts too few facts outside their asset's partition"
    namespace = f"rpf{uuid.uuid4().hex[:8]}"
    try:
        result = _replay(kafka_bootstrap, schema_registry_url, prefix, namespace, tmp_path)
        assert result.opportunities >= 3, "the scenario opens too little to compare"
        assert result.digest == result.offline_digest, "the worker differs from its replay"
    finally:
        _cleanup(kafka_bootstrap, [f"{namespace}."])


@pytest.mark.parametrize("by_asset", [True, False], ids=["by-asset", "twin-where-read"])
def test_facts_arriving_after_the_books_live_equals_offline_only_when_sequenced_by_asset(
    kafka_bootstrap: str, schema_registry_url: str, by_asset: bool
) -> None:
    """The live worker applies every book first, then the facts. Sequenced where they were
    read (the twin), a fact of an asset whose books sit in a later partition is read first by
    the offline replay (partition by partition), which then takes the asset's earlier batches
    as already applied: the states differ whatever the timing."""
    walk = syn.random_walk(600, assets=ASSETS, venues=VENUES, step_ms=50, funding_every=4)
    later = walk[-1][1].envelope.event_time_ms + 50
    facts = [(MD_INSTRUMENT, syn.facts(v, f"{a}/USDT:USDT", later)) for a in ASSETS for v in VENUES]
    n = by_name(MD_INSTRUMENT).partitions
    assert any(
        partition_for(key_for(r), n) < partition_for(partition_key_for(r), n) for _t, r in facts
    ), "no fact is read before its asset's books"
    with Pipeline(
        kafka_bootstrap,
        schema_registry_url,
        digest_interval_s=0.3,
        digest_detail=True,
        sequencer_facts_by_asset=by_asset,
    ) as p:
        created = create_prefixed_topics(kafka_bootstrap, p.prefix, [MD_INSTRUMENT])
        try:
            p.start()
            p.publish(walk)
            books = p.settled_after(len(walk))
            p.publish(facts)  # keyed: the partition of their key
            live = p.settled_after(len(walk) + len(facts))
            assert live["digest"] != books["digest"], "the facts changed nothing"
            offline = digest_at_cut(kafka_bootstrap, schema_registry_url, live["cut"], p.settings)
        finally:
            delete_topics(kafka_bootstrap, created)
    if by_asset:
        assert live["digest"] == offline, "the worker differs from its replay"
    else:
        assert live["digest"] != offline
