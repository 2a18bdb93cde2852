"""A sink that loses its group membership during a long write keeps going and loses nothing.

Guard: a commit the group refuses (the member was dropped, or a rebalance moved the partitions)
is logged instead of raised, because the batch is already durable; the sink rejoins and whoever
owns the partitions re-consumes the batch, which the idempotent write absorbs.
Oracle: a write that outlasts ``max.poll.interval.ms`` does not stop the sink; in the end the
table holds one row per event with no offset gap.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence

import pytest

from connectors.storage.consumption import SinkLoop
from connectors.storage.postgres_store import PostgresStore
from connectors.storage.runner import SinkConfig
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
EVENTS = 600
POLL_INTERVAL_MS = 6_000
"""The broker's smallest session timeout; librdkafka wants max.poll.interval.ms >= it."""
SLOW_WRITE_S = 9.0


class SlowStore:
    """Delegates to ``inner``; its second write outlasts the consumer's poll interval."""

    def __init__(self, inner: Store) -> None:
        self.name = inner.name
        self._inner = inner
        self._writes = 0

    def open(self) -> None:
        self._inner.open()

    def write(self, batch: Sequence[Consumed]) -> dict[str, int]:
        self._writes += 1
        written = self._inner.write(batch)
        if self._writes == 2:
            time.sleep(SLOW_WRITE_S)
        return written

    def close(self) -> None:
        self._inner.close()


@pytest.fixture
def ns(services: Endpoints) -> Iterator[str]:
    name = namespace()
    create_topics(services.kafka_bootstrap, f"{name}.", [TOPIC])
    yield name
    delete_topics(services.kafka_bootstrap, f"{name}.", [TOPIC])


def test_a_refused_commit_does_not_stop_the_sink(services: Endpoints, ns: str) -> None:
    EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.").send(
        (TOPIC, r) for r in events(Fill, EVENTS)
    )
    config = SinkConfig(
        bootstrap=services.kafka_bootstrap,
        registry_url=services.registry_url,
        group_prefix=ns,
        topic_prefix=f"{ns}.",
        topics=frozenset({TOPIC}),
        batch_max=100,
    )
    loop_config = dataclasses.replace(
        config.loop_config("postgres", [TOPIC]),
        consumer_overrides={
            "max.poll.interval.ms": POLL_INTERVAL_MS,
            "session.timeout.ms": POLL_INTERVAL_MS,
        },
    )
    failure: list[BaseException] = []
    with scratch_schema(services.postgres_conninfo) as schema:
        store = SlowStore(PostgresStore(services.postgres_conninfo, options=schema.options))
        loop = SinkLoop(loop_config, Codec(ConfluentRegistry(services.registry_url)), store)

        def run() -> None:
            try:
                loop.run()
            except BaseException as exc:  # handed to the test
                failure.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        try:
            group, physical = loop_config.group_id, list(loop_config.topics)
            wait_until(
                lambda: bool(failure) or caught_up(services.kafka_bootstrap, group, physical), 120
            )
        finally:
            loop.stop()
            thread.join(60)
        rows = pg_positions(schema, "event_fills")
    assert failure == []
    assert len(rows) == EVENTS
    assert no_gaps(rows)
