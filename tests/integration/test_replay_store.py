"""``fundingflow replay`` from the event stores (real broker, QuestDB and PostgreSQL): events
published and stored by the sinks, replayed from Kafka and then (once Kafka deleted them) from
the store, give the same re-published logs, the same opportunities and decisions and the same
state digest; bad input to a store replay writes nothing. Twin: the five book levels QuestDB
keeps as columns do not give the state back (a deeper book changes the digest)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from base64 import b64decode
from pathlib import Path
from typing import Any

import pytest

from benchmarks import synthetic as syn
from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import publish_records
from connectors.storage.consumption import SinkLoop
from connectors.storage.questdb_store import QuestdbStore
from connectors.storage.runner import SinkConfig
from connectors.storage.runner import postgres_sink
from connectors.storage.runner import questdb_sink
from connectors.storage.store_range import StoreReader
from connectors.storage.timeseries import BOOK_LEVELS
from processors.market_state import MarketReducer
from processors.risk_state import RiskReducer
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.records.md import BookSnapshot
from schemas.records.ops import ControlAction
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import MD_TRADE
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION
from streams.config import StreamsSettings
from streams.digest import state_digest
from streams.replay import kafka_gap
from streams.replay_range import parse_bound
from tests.event_stores import caught_up
from tests.event_stores import questdb_drop
from tests.event_stores import questdb_query
from tests.event_stores import questdb_settled
from tests.event_stores import wait_until
from tests.integration.test_replay import ASSETS
from tests.integration.test_replay import REPO
from tests.integration.test_replay import _broker_topics
from tests.integration.test_replay import _cleanup
from tests.integration.test_replay import _env
from tests.ledger_db import scratch_schema
from tests.services import Endpoints

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOPICS = (MD_INSTRUMENT, MD_BOOK, MD_FUNDING, OPS_CONTROL)
"""Published and stored."""
REPLAYED = TOPICS
"""Replayed by the worker runs: every stored topic, PostgreSQL's (facts, control) included."""
LEVELS = 8
"""Levels per side of the published books: deeper than the QuestDB level columns."""


def _inputs() -> list[tuple[str, AvroRecord]]:
    walk = syn.random_walk(1200, assets=ASSETS, step_ms=50, funding_every=4, levels=LEVELS)
    start = walk[0][1].envelope.event_time_ms
    facts: list[tuple[str, AvroRecord]] = [
        (MD_INSTRUMENT, syn.facts(v, f"{a}/USDT:USDT", start - 1000))
        for a in ASSETS[:3]
        for v in ("ex-a", "ex-b")
    ]
    mid = walk[len(walk) // 3][1].envelope.event_time_ms
    controls: list[tuple[str, AvroRecord]] = [
        (OPS_CONTROL, syn.control(ControlAction.KILL_SWITCH_ENGAGE, mid)),
        (OPS_CONTROL, syn.control(ControlAction.KILL_SWITCH_RELEASE, mid + 20_000)),
    ]
    return [*facts, *walk[:400], *controls, *walk[400:]]


def _stores(services: Endpoints) -> dict[str, str]:
    """The environment that points a replay at the test stack's QuestDB and PostgreSQL."""
    q, pg = services.settings.questdb, services.settings.postgres
    return {
        "FUNDINGFLOW_QUESTDB__HOST": q.host,
        "FUNDINGFLOW_QUESTDB__HTTP_PORT": str(q.http_port),
        "FUNDINGFLOW_POSTGRES__HOST": pg.host,
        "FUNDINGFLOW_POSTGRES__PORT": str(pg.port),
        "FUNDINGFLOW_POSTGRES__USER": pg.user,
        "FUNDINGFLOW_POSTGRES__PASSWORD": pg.password.get_secret_value(),
        "FUNDINGFLOW_POSTGRES__DATABASE": pg.database,
    }


def _replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fundingflow", "replay", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def _store(services: Endpoints, prefix: str, uid: str, options: str, table_prefix: str) -> None:
    """Run both sinks over the prefixed topics until each committed everything."""
    config = SinkConfig(
        bootstrap=services.kafka_bootstrap,
        registry_url=services.registry_url,
        group_prefix=f"{prefix}sink",
        topic_prefix=prefix,
        topics=frozenset(TOPICS),
    )
    q = services.settings.questdb
    loops: list[SinkLoop] = [
        postgres_sink(config, services.postgres_conninfo, options=options),
        questdb_sink(config, q.host, q.http_port, table_prefix=table_prefix),
    ]
    threads = [threading.Thread(target=loop.run) for loop in loops]
    for thread in threads:
        thread.start()
    try:
        for loop in loops:
            done = wait_until(
                lambda lp=loop: caught_up(  # type: ignore[misc]
                    services.kafka_bootstrap, lp.config.group_id, list(lp.config.topics)
                ),
                60,
            )
            assert done, f"sink {loop.config.name} did not catch up"
    finally:
        for loop in loops:
            loop.stop()
        for thread in threads:
            thread.join(30)
    for table in (f"{table_prefix}md_books", f"{table_prefix}md_funding"):  # this test's tables
        assert wait_until(lambda t=table: questdb_settled(services.questdb_http_url, t), 30)  # type: ignore[misc]


def _raw(bootstrap: str, topic: str) -> dict[int, list[tuple[int, bytes | None, bytes]]]:
    """(timestamp, key, value) of every message of ``topic``, per partition in offset order."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "ff-store-test", "enable.auto.commit": False}
    )
    out: dict[int, list[tuple[int, bytes | None, bytes]]] = {}
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for p in sorted(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            consumer.assign([TopicPartition(topic, p, low)])
            got: list[tuple[int, bytes | None, bytes]] = []
            while len(got) < high - low:
                for m in consumer.consume(min(1000, high - low - len(got)), 1.0):
                    if m.error() is None:
                        got.append((m.timestamp()[1], m.key(), m.value() or b""))
            if got:
                out[p] = got
    finally:
        consumer.close()
    return out


def _delete_all_records(bootstrap: str, topics: list[str]) -> None:
    """Advance every partition's low watermark to its end (what retention does)."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ff-store-test"})
    wanted = []
    try:
        meta = consumer.list_topics(timeout=10).topics
        for topic in topics:
            for p in meta[topic].partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > 0:
                    wanted.append(TopicPartition(topic, p, high))
    finally:
        consumer.close()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_records(wanted, request_timeout=30).values():
        future.result()


def _decisions(bootstrap: str, codec: Codec, namespace: str, prefix: str) -> list[Any]:
    """Per partition, the opportunities (id, lifecycle) and the decisions (id, opportunity,
    outcome) a replay wrote (their envelopes carry the worker's wall clock)."""
    out: list[Any] = []
    for p, messages in sorted(_raw(bootstrap, f"{namespace}.{prefix}{ARB_OPPORTUNITY}").items()):
        opportunities = [codec.decode(v) for _t, _k, v in messages]
        out.append((ARB_OPPORTUNITY, p, [(o.opportunity_id, o.lifecycle) for o in opportunities]))  # type: ignore[attr-defined]
    for p, messages in sorted(_raw(bootstrap, f"{namespace}.{prefix}{RISK_DECISION}").items()):
        decided = [codec.decode(v) for _t, _k, v in messages]
        out.append(
            (RISK_DECISION, p, [(d.decision_id, d.opportunity_id, d.outcome) for d in decided])  # type: ignore[attr-defined]
        )
    return out


def test_a_store_replay_reproduces_the_kafka_replay(services: Endpoints, tmp_path: Path) -> None:
    uid = uuid.uuid4().hex[:8]
    prefix, kafka_ns, store_ns = f"t{uid}.", f"rsk{uid}", f"rss{uid}"
    table_prefix = f"rs{uid}_"
    bootstrap = services.kafka_bootstrap
    codec = Codec(ConfluentRegistry(services.registry_url))
    q = services.settings.questdb
    env = {**_env(bootstrap, services.registry_url, prefix, tmp_path), **_stores(services)}
    try:
        with scratch_schema(services.postgres_conninfo) as schema:
            create_prefixed_topics(bootstrap, prefix, [*TOPICS, MD_TRADE])
            begin = int(time.time() * 1000) - 1000
            publish_records(bootstrap, codec, _inputs(), prefix)
            end = int(time.time() * 1000) + 1000
            _store(services, prefix, uid, schema.options, table_prefix)
            window = ["--from", str(begin), "--to", str(end), "--topics", ",".join(REPLAYED)]
            store_args = ["--table-prefix", table_prefix, "--pg-schema", schema.name]

            from_kafka = _replay(env, *window, "--into", kafka_ns, "--digest", "--json")
            assert from_kafka.returncode == 0, from_kafka.stderr[-3000:]
            kafka_run = json.loads(from_kafka.stdout)
            assert kafka_run["source"] == "kafka"

            # Retention passes: Kafka keeps none of it, so auto turns to the store.
            sources = [prefix + t for t in TOPICS]
            recorded = {t: _raw(bootstrap, prefix + t) for t in TOPICS}
            assert (
                kafka_gap(
                    bootstrap,
                    list(TOPICS),
                    parse_bound(str(begin)),
                    explicit=True,
                    source_prefix=prefix,
                )
                is None
            )
            _delete_all_records(bootstrap, sources)
            gap = kafka_gap(
                bootstrap,
                list(TOPICS),
                parse_bound(str(begin)),
                explicit=True,
                source_prefix=prefix,
            )
            assert gap is not None
            assert "retention" in gap

            from_store = _replay(
                env, *window, *store_args, "--into", store_ns, "--digest", "--json"
            )
            assert from_store.returncode == 0, from_store.stderr[-3000:]
            store_run = json.loads(from_store.stdout)
            assert store_run["source"] == "store"
            assert store_run["source_reason"].startswith("auto: ")

            assert store_run["republished"] == kafka_run["republished"]
            assert store_run["digest"] == store_run["offline_digest"]
            assert store_run["digest"] == kafka_run["digest"]
            reader = StoreReader(
                QuestdbStore(q.host, q.http_port, table_prefix=table_prefix),
                services.postgres_conninfo,
                codec,
                options=schema.options,
            )
            plan = reader.plan(list(TOPICS), begin, end)
            assert {p.topic: p.store for p in plan.parts} == {
                MD_INSTRUMENT: "postgres",
                OPS_CONTROL: "postgres",
                MD_BOOK: "questdb",
                MD_FUNDING: "questdb",
            }
            stored: dict[str, dict[int, list[tuple[int, bytes | None, bytes]]]] = {}
            for m in plan.messages():
                stored.setdefault(m.topic(), {}).setdefault(m.partition(), []).append(
                    (m.timestamp()[1], m.key(), m.value())
                )
            assert stored == recorded  # every message as Kafka held it, partition by partition
            for topic in REPLAYED:  # the same logs: timestamps, keys and values, in order
                assert _raw(bootstrap, f"{store_ns}.{prefix}{topic}") == _raw(
                    bootstrap, f"{kafka_ns}.{prefix}{topic}"
                ), topic
            kafka_out = _decisions(bootstrap, codec, kafka_ns, prefix)
            assert _decisions(bootstrap, codec, store_ns, prefix) == kafka_out
            assert kafka_run["opportunities"] >= 3, "the scenario opens too little to compare"
            assert kafka_run["decisions"] >= 1, "no decision to compare"

            _bad_store_input(env, window, store_args, uid, end, services)
            _five_levels_lose_the_state(services, table_prefix, codec)
    finally:
        _cleanup(bootstrap, [prefix, f"{kafka_ns}.", f"{store_ns}.", f"rsx{uid}"])
        for table in ("md_books", "md_funding", "md_trades"):
            questdb_drop(services.questdb_http_url, f"{table_prefix}{table}")


def _bad_store_input(
    env: dict[str, str],
    window: list[str],
    store_args: list[str],
    uid: str,
    end: int,
    services: Endpoints,
) -> None:
    """Refused with exit code 2 and a clear message; no topic of the namespace is created (in
    this process: nothing here starts a worker)."""
    import os

    from typer.testing import CliRunner

    from fundingflow.cli import app

    unset: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    namespace = f"rsx{uid}"

    def refused(*args: str) -> str:
        result = CliRunner().invoke(
            app, ["replay", *args, "--into", namespace], env={**env, **unset}
        )
        assert result.exit_code == 2, result.output
        return " ".join(result.output.replace("│", " ").split())

    offsets = ["--from", "offset:0", "--to", str(end), "--source", "store"]
    assert "offset bounds are Kafka's" in refused(*offsets, *store_args)
    later = ["--from", str(end + 60_000), "--to", str(end + 120_000), "--source", "store"]
    assert "the event stores hold no message" in refused(*later, *store_args)
    with scratch_schema(services.postgres_conninfo) as empty:
        nothing = ["--table-prefix", f"none{uid}_", "--pg-schema", empty.name]
        assert "the event stores hold no message" in refused(*window, "--source", "store", *nothing)
    assert not any(t.startswith(f"{namespace}.") for t in _broker_topics(services.kafka_bootstrap))


def _five_levels_lose_the_state(services: Endpoints, table_prefix: str, codec: Codec) -> None:
    """The wire column gives back every stored book exactly; the level columns (what a replay
    from the analytics columns would rebuild) hold its top five levels only, and the market
    state built from those differs: the twin of the wire column."""
    levels = ", ".join(
        f"{side}_{kind}_{n}"
        for side in ("bid", "ask")
        for kind in ("price", "size")
        for n in range(1, BOOK_LEVELS + 1)
    )
    rows = questdb_query(
        services.questdb_http_url,
        f"SELECT wire_value, {levels} FROM {table_prefix}md_books"
        " ORDER BY kafka_partition, kafka_offset",
    )
    assert rows
    settings = StreamsSettings()
    exact, top = MarketReducer(settings.market), MarketReducer(settings.market)
    for row in rows:
        book = codec.decode(b64decode(str(row[0])))
        assert isinstance(book, BookSnapshot)
        assert book.depth == LEVELS > BOOK_LEVELS
        columns = [int(str(v)) for v in row[1:]]
        n = BOOK_LEVELS
        assert columns == [
            *book.bid_prices[:n], *book.bid_sizes[:n], *book.ask_prices[:n], *book.ask_sizes[:n]
        ]  # fmt: skip
        rebuilt = book.model_copy(
            update={
                "depth": n,
                "bid_prices": book.bid_prices[:n],
                "bid_sizes": book.bid_sizes[:n],
                "ask_prices": book.ask_prices[:n],
                "ask_sizes": book.ask_sizes[:n],
            }
        )
        exact.apply(book)
        top.apply(rebuilt)
    risk = RiskReducer(settings.risk).state
    assert state_digest(top.assets, risk) != state_digest(exact.assets, risk)
