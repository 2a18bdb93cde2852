"""A database that goes away for 20 s mid-stream loses no event.

The shared stack's databases stay up: each sink talks to its database through a loopback TCP
proxy of the test, which refuses and drops every connection for the outage.
Guard: a write the store cannot make stops the consumption without a commit; the sink retries
opening the store with backoff and rejoins the group at the committed offsets.
Oracle: the sink reports its store down and commits nothing until the database is back; once
the stream ended and the group caught up, rows == events, one per event id, and (PostgreSQL) no
offset gap.
Twin: dropping the batch the store refused (``Guards(wait_for_store=False)``) must lose events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY

from connectors.storage.consumption import Backoff
from connectors.storage.consumption import Guards
from connectors.storage.consumption import SinkLoop
from connectors.storage.runner import SinkConfig
from connectors.storage.runner import postgres_sink
from connectors.storage.runner import questdb_sink
from connectors.storage.timeseries import SERIES_BY_TOPIC
from schemas.avro_record import AvroRecord
from schemas.records.md import FundingRateUpdate
from schemas.records.portfolio import PnlSnapshot
from tests.event_stores import EventProducer
from tests.event_stores import LoopbackProxy
from tests.event_stores import caught_up
from tests.event_stores import committed_offsets
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.event_stores import events
from tests.event_stores import namespace
from tests.event_stores import no_gaps
from tests.event_stores import pg_count
from tests.event_stores import pg_positions
from tests.event_stores import questdb_counts
from tests.event_stores import questdb_drop
from tests.event_stores import questdb_settled
from tests.event_stores import wait_until
from tests.ledger_db import scratch_schema
from tests.services import Endpoints

pytestmark = [pytest.mark.fault, pytest.mark.integration]

OUTAGE_S = 20.0
TWIN_OUTAGE_S = 5.0
EVENTS = 3_000
PG_TOPIC = "portfolio.pnl"
QDB_TOPIC = "md.funding"


@pytest.fixture
def ns(services: Endpoints) -> Iterator[str]:
    name = namespace()
    create_topics(services.kafka_bootstrap, f"{name}.", [PG_TOPIC, QDB_TOPIC])
    yield name
    delete_topics(services.kafka_bootstrap, f"{name}.", [PG_TOPIC, QDB_TOPIC])


def config(services: Endpoints, ns: str, topic: str, guards: Guards) -> SinkConfig:
    return SinkConfig(
        bootstrap=services.kafka_bootstrap,
        registry_url=services.registry_url,
        group_prefix=ns,
        topic_prefix=f"{ns}.",
        topics=frozenset({topic}),
        batch_max=100,
        backoff=Backoff(initial_s=0.25, maximum_s=2.0),
        guards=guards,
    )


@dataclass(frozen=True)
class Outage:
    """What the sink did while its database was cut off."""

    stopped: bool
    """The sink reported its store down (``fundingflow_sink_store_up`` 0)."""
    committed_at_stop: dict[str, int]
    committed_at_restore: dict[str, int]


def store_up(name: str) -> float | None:
    return REGISTRY.get_sample_value("fundingflow_sink_store_up", {"sink": name})


def outage_mid_stream(
    services: Endpoints,
    ns: str,
    loop: SinkLoop,
    proxy: LoopbackProxy,
    items: list[tuple[str, AvroRecord]],
    written: Callable[[], int],
    outage_s: float,
) -> Outage:
    """Stream paced while the sink runs; cut the proxy for ``outage_s`` once rows arrive."""
    thread = threading.Thread(target=loop.run)
    thread.start()
    producer = EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.")
    sending = producer.send_paced(items, chunk=100, pause_s=0.1)
    group, topics = loop.config.group_id, list(loop.config.topics)
    name = loop.config.name
    try:
        assert wait_until(lambda: written() > 0, 60)
        proxy.cut()
        cut_at = time.monotonic()
        stopped = wait_until(lambda: store_up(name) == 0, outage_s / 2, every_s=0.05)
        at_stop = committed_offsets(services.kafka_bootstrap, group, topics)
        time.sleep(max(0.0, outage_s - (time.monotonic() - cut_at)))
        at_restore = committed_offsets(services.kafka_bootstrap, group, topics)
        proxy.restore()
        sending.join()
        assert wait_until(lambda: caught_up(services.kafka_bootstrap, group, topics), 120)
    finally:
        sending.join()
        loop.stop()
        thread.join(60)
        proxy.close()
    return Outage(stopped, at_stop, at_restore)


def postgres_outage(
    services: Endpoints, ns: str, guards: Guards, outage_s: float
) -> tuple[Outage, list[tuple[str, int, int, str]]]:
    items = [(PG_TOPIC, r) for r in events(PnlSnapshot, EVENTS)]
    p = services.settings.postgres
    proxy = LoopbackProxy(p.port, p.host)
    conninfo = p.model_copy(update={"port": proxy.port}).conninfo()
    with scratch_schema(services.postgres_conninfo) as schema:
        loop = postgres_sink(
            config(services, ns, PG_TOPIC, guards), conninfo, options=schema.options
        )
        outage = outage_mid_stream(
            services,
            ns,
            loop,
            proxy,
            items,
            lambda: pg_count(schema, "event_pnl_snapshots"),
            outage_s,
        )
        return outage, pg_positions(schema, "event_pnl_snapshots")


def questdb_outage(
    services: Endpoints, ns: str, guards: Guards, outage_s: float
) -> tuple[Outage, tuple[int, int]]:
    items = [(QDB_TOPIC, r) for r in events(FundingRateUpdate, EVENTS)]
    q = services.settings.questdb
    proxy = LoopbackProxy(q.http_port, q.host)
    prefix = f"{ns}_"
    table = f"{prefix}{SERIES_BY_TOPIC[QDB_TOPIC].name}"
    try:
        loop = questdb_sink(
            config(services, ns, QDB_TOPIC, guards), q.host, proxy.port, table_prefix=prefix
        )
        outage = outage_mid_stream(
            services,
            ns,
            loop,
            proxy,
            items,
            lambda: questdb_counts(q.http_url, table)[0],
            outage_s,
        )
        assert wait_until(lambda: questdb_settled(q.http_url, table), 60)
        return outage, questdb_counts(q.http_url, table)
    finally:
        questdb_drop(q.http_url, table)


def test_postgres_outage_loses_nothing(services: Endpoints, ns: str) -> None:
    outage, rows = postgres_outage(services, ns, Guards(), OUTAGE_S)
    assert outage.stopped
    assert outage.committed_at_restore == outage.committed_at_stop
    assert len(rows) == EVENTS
    assert len({r[3] for r in rows}) == EVENTS
    assert no_gaps(rows)


def test_twin_dropping_refused_batches_loses_postgres_rows(services: Endpoints, ns: str) -> None:
    _, rows = postgres_outage(services, ns, Guards(wait_for_store=False), TWIN_OUTAGE_S)
    assert len(rows) < EVENTS


def test_questdb_outage_loses_nothing(services: Endpoints, ns: str) -> None:
    outage, counts = questdb_outage(services, ns, Guards(), OUTAGE_S)
    assert outage.stopped
    assert outage.committed_at_restore == outage.committed_at_stop
    assert counts == (EVENTS, EVENTS)


def test_twin_dropping_refused_batches_loses_questdb_rows(services: Endpoints, ns: str) -> None:
    _, (rows, _) = questdb_outage(services, ns, Guards(wait_for_store=False), TWIN_OUTAGE_S)
    assert rows < EVENTS
