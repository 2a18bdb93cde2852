"""``fundingflow replay`` on the real stack: the same range replayed into two namespaces gives
the same state digest, the same opportunities and the same decisions, and the digest equals
the offline replay of the namespace's sequenced log; bad input writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from benchmarks import synthetic as syn
from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import delete_topics
from benchmarks.isolation import publish_records
from schemas.codec import Codec
from schemas.records.arb import Opportunity
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import MD_TRADE
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION
from schemas.topics import key_for
from schemas.topics import partition_for
from streams.replay import plan_range
from streams.replay_range import ReplayInputError
from streams.replay_range import parse_bound

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ASSETS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH")
REPO = Path(__file__).resolve().parents[2]


def _env(bootstrap: str, registry_url: str, prefix: str, home: Path) -> dict[str, str]:
    host, port = bootstrap.rsplit(":", 1)
    registry = urlsplit(registry_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNDINGFLOW_")}
    return {
        **env,
        "FUNDINGFLOW_KAFKA__HOST": host,
        "FUNDINGFLOW_KAFKA__PORT": port,
        "FUNDINGFLOW_REGISTRY__HOST": registry.hostname or "127.0.0.1",
        "FUNDINGFLOW_REGISTRY__PORT": str(registry.port or 8081),
        "FUNDINGFLOW_STREAMS__TOPIC_PREFIX": prefix,
        "FUNDINGFLOW_STACK__HOME": str(home),
    }


def _replay(env: dict[str, str], namespace: str, *extra: str) -> subprocess.CompletedProcess[str]:
    args = ["--from", "offset:10", "--to", "offset:100000", "--into", namespace, *extra]
    return subprocess.run(
        [sys.executable, "-m", "fundingflow", "replay", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _read_all(bootstrap: str, codec: Codec, topic: str) -> dict[int, list[Any]]:
    """Every record of ``topic``, per partition in offset order."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "ff-replay-test", "enable.auto.commit": False}
    )
    out: dict[int, list[Any]] = {}
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for p in sorted(partitions):
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            consumer.assign([TopicPartition(topic, p, 0)])
            records: list[Any] = []
            while len(records) < high:
                for m in consumer.consume(1000, 1.0):
                    if m.error() is None:
                        records.append(codec.decode(m.value() or b""))
            out[p] = records
    finally:
        consumer.close()
    return out


def _broker_topics(bootstrap: str) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics)


def _cleanup(bootstrap: str, prefixes: list[str]) -> None:
    from confluent_kafka.admin import AdminClient

    delete_topics(
        bootstrap, [t for t in _broker_topics(bootstrap) if t.startswith(tuple(prefixes))]
    )
    admin = AdminClient({"bootstrap.servers": bootstrap})
    groups = [
        g.group_id
        for g in admin.list_consumer_groups(request_timeout=10).result().valid
        if g.group_id.startswith(tuple(prefixes))
    ]
    if groups:
        for future in admin.delete_consumer_groups(groups, request_timeout=10).values():
            try:
                future.result()
            except Exception:  # best effort
                continue


def test_two_replays_of_one_range_agree_with_each_other_and_the_offline_replay(
    kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> None:
    uid = uuid.uuid4().hex[:8]
    prefix, first_ns, second_ns = f"t{uid}.", f"rpa{uid}", f"rpb{uid}"
    codec = Codec(ConfluentRegistry(schema_registry_url))
    env = _env(kafka_bootstrap, schema_registry_url, prefix, tmp_path)
    try:
        create_prefixed_topics(
            kafka_bootstrap, prefix, [MD_BOOK, MD_FUNDING, MD_INSTRUMENT, MD_TRADE, OPS_CONTROL]
        )
        events = syn.random_walk(2400, assets=ASSETS, step_ms=50, funding_every=4)
        publish_records(kafka_bootstrap, codec, events, prefix)

        runs = []
        for namespace in (first_ns, second_ns):
            done = _replay(env, namespace, "--digest", "--json")
            assert done.returncode == 0, done.stderr[-3000:]
            runs.append(json.loads(done.stdout))
        first, second = runs
        per_partition: dict[tuple[str, int], int] = {}
        for topic, record in events:
            tp = (topic, partition_for(key_for(record), 6))
            per_partition[tp] = per_partition.get(tp, 0) + 1
        in_range = sum(max(0, n - 10) for n in per_partition.values())  # --from offset:10
        assert first["republished"] == second["republished"] == in_range
        assert first["republish_events_per_s"] > 0
        assert first["digest"] == first["offline_digest"], "the worker differs from its replay"
        assert first["digest"] == second["digest"]
        assert second["digest"] == second["offline_digest"]

        opportunities = [
            {
                p: [(o.opportunity_id, o.lifecycle.value) for o in records]
                for p, records in _read_all(
                    kafka_bootstrap, codec, f"{ns}.{prefix}{ARB_OPPORTUNITY}"
                ).items()
            }
            for ns in (first_ns, second_ns)
        ]
        decisions = [
            {
                p: [(d.decision_id, d.opportunity_id, d.outcome.value) for d in records]
                for p, records in _read_all(
                    kafka_bootstrap, codec, f"{ns}.{prefix}{RISK_DECISION}"
                ).items()
            }
            for ns in (first_ns, second_ns)
        ]
        assert opportunities[0] == opportunities[1]
        assert decisions[0] == decisions[1]
        seen = [o for records in opportunities[0].values() for o in records]
        assert len({oid for oid, _ in seen}) >= 3, "the scenario opens too little to compare"
        assert sum(len(d) for d in decisions[0].values()) >= 1, "no decision to compare"
        assert sum(len(v) for v in opportunities[0].values()) == first["opportunities"]
        assert all(
            isinstance(r, Opportunity)
            for rs in _read_all(
                kafka_bootstrap, codec, f"{first_ns}.{prefix}{ARB_OPPORTUNITY}"
            ).values()
            for r in rs
        )

        # A namespace in use is refused, and nothing is written.
        before = _broker_topics(kafka_bootstrap)
        again = _replay(env, first_ns)
        assert again.returncode != 0
        assert f"namespace '{first_ns}' is in use" in " ".join(
            again.stderr.replace("│", " ").split()
        )
        assert _broker_topics(kafka_bootstrap) == before

        # A named topic the broker does not have is refused (md.kline was never created).
        missing = _replay(env, f"rpc{uid}", "--topics", "md.kline")
        assert missing.returncode == 2
        assert "does not exist on the broker" in missing.stderr
        assert not any(t.startswith(f"rpc{uid}.") for t in _broker_topics(kafka_bootstrap))
    finally:
        _cleanup(kafka_bootstrap, [prefix, f"{first_ns}.", f"{second_ns}.", f"rpc{uid}."])


def test_time_bounds_map_to_offsets_inclusive_from_exclusive_to(kafka_bootstrap: str) -> None:
    from confluent_kafka import Producer

    prefix = f"t{uuid.uuid4().hex[:8]}."
    try:
        create_prefixed_topics(kafka_bootstrap, prefix, [MD_BOOK])
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
        base = 1_767_225_600_000
        for i in range(10):
            producer.produce(prefix + MD_BOOK, b"v", b"k", partition=0, timestamp=base + i * 10)
        assert producer.flush(10) == 0

        def planned(start: str, end: str) -> dict[int, tuple[int, int]]:
            plan = plan_range(
                kafka_bootstrap,
                [MD_BOOK],
                parse_bound(start),
                parse_bound(end),
                explicit=True,
                source_prefix=prefix,
            )
            return {p.partition: (p.first, p.stop) for p in plan.parts if p.count}

        assert planned(str(base + 30), str(base + 70)) == {0: (3, 7)}
        assert planned(str(base + 25), str(base + 71)) == {0: (3, 8)}
        assert planned("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.050Z") == {0: (0, 5)}
        assert planned(str(base + 30), str(base + 10_000)) == {0: (3, 10)}  # past the end
        assert planned(str(base + 30), "offset:5") == {0: (3, 5)}
        assert planned("0:2", "0:4,1:0") == {0: (2, 4)}
        with pytest.raises(ReplayInputError, match="names partition 9"):
            planned("9:1", "offset:5")
        with pytest.raises(ReplayInputError, match="inverted range on partition 0"):
            planned(str(base + 80), "offset:2")
    finally:
        delete_topics(kafka_bootstrap, [prefix + MD_BOOK])
