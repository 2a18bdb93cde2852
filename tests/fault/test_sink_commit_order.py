"""A sink that dies while writing a batch loses nothing: its offsets were not committed yet.

Guard: :class:`~connectors.storage.consumption.SinkLoop` commits a batch's offsets only after
the store's ``write`` returned.
Oracle: after a planted crash inside the fourth write and a restart in the same group, the
PostgreSQL table holds exactly one row per event, offsets without gaps.
Twin: committing before the write (``Guards(commit_after_write=False)``) must lose the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from collections.abc import Sequence

import pytest

from connectors.storage.consumption import Guards
from connectors.storage.consumption import SinkLoop
from connectors.storage.postgres_store import PostgresStore
from connectors.storage.runner import SinkConfig
from connectors.storage.runner import postgres_sink
from connectors.storage.stores import Consumed
from connectors.storage.stores import Store
from schemas.codec import Codec
from schemas.records.execution import Fill
from schemas.registry import ConfluentRegistry
from tests.event_stores import EventProducer
from tests.event_stores import caught_up
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.event_stores import events
from tests.event_stores import namespace
from tests.event_stores import no_gaps
from tests.event_stores import pg_positions
from tests.event_stores import wait_until
from tests.ledger_db import scratch_schema
from tests.services import Endpoints

pytestmark = [pytest.mark.fault, pytest.mark.integration]

TOPIC = "exec.fill"
EVENTS = 1_000
BATCH = 100
CRASH_ON_WRITE = 4


class PlantedCrashError(Exception):
    """Stands for the process dying inside a write."""


class CrashingStore:
    """Delegates to ``inner`` and dies on the ``crash_on``-th write, before writing."""

    def __init__(self, inner: Store, crash_on: int) -> None:
        self.name = inner.name
        self._inner = inner
        self._crash_on = crash_on
        self._writes = 0

    def open(self) -> None:
        self._inner.open()

    def write(self, batch: Sequence[Consumed]) -> dict[str, int]:
        self._writes += 1
        if self._writes == self._crash_on:
            raise PlantedCrashError(f"died in write {self._writes}")
        return self._inner.write(batch)

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def ns(services: Endpoints) -> Iterator[str]:
    name = namespace()
    create_topics(services.kafka_bootstrap, f"{name}.", [TOPIC])
    yield name
    delete_topics(services.kafka_bootstrap, f"{name}.", [TOPIC])


def crash_and_restart(
    services: Endpoints, ns: str, guards: Guards
) -> list[tuple[str, int, int, str]]:
    EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.").send(
        (TOPIC, r) for r in events(Fill, EVENTS)
    )
    config = SinkConfig(
        bootstrap=services.kafka_bootstrap,
        registry_url=services.registry_url,
        group_prefix=ns,
        topic_prefix=f"{ns}.",
        topics=frozenset({TOPIC}),
        batch_max=BATCH,
        guards=guards,
    )
    with scratch_schema(services.postgres_conninfo) as schema:
        store = PostgresStore(services.postgres_conninfo, options=schema.options)
        codec = Codec(ConfluentRegistry(services.registry_url))
        loop_config = config.loop_config("postgres", [TOPIC])
        crashing = SinkLoop(loop_config, codec, CrashingStore(store, CRASH_ON_WRITE))
        with pytest.raises(PlantedCrashError):
            crashing.run()
        second = postgres_sink(config, services.postgres_conninfo, options=schema.options)
        thread = threading.Thread(target=second.run)
        thread.start()
        try:
            group = second.config.group_id
            assert wait_until(
                lambda: caught_up(services.kafka_bootstrap, group, second.config.topics), 90
            )
        finally:
            second.stop()
            thread.join(30)
        return pg_positions(schema, "event_fills")


def test_a_crash_inside_a_write_loses_nothing(services: Endpoints, ns: str) -> None:
    rows = crash_and_restart(services, ns, Guards())
    assert len(rows) == EVENTS
    assert len({r[3] for r in rows}) == EVENTS
    assert no_gaps(rows)


def test_twin_committing_before_the_write_loses_the_batch(services: Endpoints, ns: str) -> None:
    rows = crash_and_restart(services, ns, Guards(commit_after_write=False))
    assert len(rows) < EVENTS
    assert not no_gaps(rows)
