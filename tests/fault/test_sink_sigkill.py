"""SIGKILL a sink process mid-stream and start it again: every event is stored exactly once.

Guard: offsets are committed only after the store made the batch durable, and the stores write
idempotently (PostgreSQL ``ON CONFLICT (event_id) DO NOTHING``, QuestDB ``DEDUP UPSERT KEYS``),
so the batch in flight at the kill is written again without duplicating anything.
Oracle: after the restart caught up, rows == events, distinct event ids == events, and (in
PostgreSQL, which stores the Kafka position) the offsets of every partition have no gap.
Twins: ``test_sink_commit_order`` (commit before write loses rows) and, for the idempotent
writes, ``tests/integration/test_storage_sinks.py`` (no ON CONFLICT / no DEDUP keys).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.storage.timeseries import SERIES_BY_TOPIC
from schemas.avro_record import AvroRecord
from schemas.records.arb import Opportunity
from schemas.records.execution import Fill
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from tests.event_stores import EventProducer
from tests.event_stores import caught_up
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
from tests.services import REPO
from tests.services import Endpoints

pytestmark = [pytest.mark.fault, pytest.mark.integration]

PER_TOPIC = 3_000
PG_TOPICS: dict[str, type[AvroRecord]] = {"exec.fill": Fill, "arb.opportunity": Opportunity}
QDB_TOPICS: dict[str, type[AvroRecord]] = {"md.book": BookSnapshot, "md.funding": FundingRateUpdate}


@pytest.fixture
def ns(services: Endpoints) -> Iterator[str]:
    name = namespace()
    create_topics(services.kafka_bootstrap, f"{name}.", [*PG_TOPICS, *QDB_TOPICS])
    yield name
    delete_topics(services.kafka_bootstrap, f"{name}.", [*PG_TOPICS, *QDB_TOPICS])


def start_sink(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "fundingflow", "sink", "--metrics-port", "0", "--batch", "100"]
    with log.open("ab") as out:
        return subprocess.Popen([*argv, *args], env=env, stdout=out, stderr=out)


def kill_mid_stream_and_restart(
    services: Endpoints,
    ns: str,
    topics: dict[str, type[AvroRecord]],
    args: list[str],
    written: Callable[[], int],
    log: Path,
) -> None:
    """Stream events paced, SIGKILL the sink once rows arrive, restart it, wait until caught up."""
    items = [(t, r) for t, rt in topics.items() for r in events(rt, PER_TOPIC)]
    producer = EventProducer(services.kafka_bootstrap, services.registry_url, f"{ns}.")
    common = ["--topic-prefix", f"{ns}.", "--group-prefix", ns, "--topics", ",".join(topics)]
    sink = start_sink([*common, *args], log)
    sending = producer.send_paced(items, chunk=300, pause_s=0.2)
    try:
        assert wait_until(lambda: written() > 0, 60), log.read_text()[-2000:]
        sink.send_signal(signal.SIGKILL)
        sink.wait(10)
        assert written() < len(items), "the kill came after the end of the stream"
        sending.join()
        sink = start_sink([*common, *args], log)
        name = args[1]
        group = f"{ns}-{name}"
        physical = [f"{ns}.{t}" for t in topics]
        assert wait_until(lambda: caught_up(services.kafka_bootstrap, group, physical), 120), (
            log.read_text()[-2000:]
        )
    finally:
        sending.join()
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)


def test_postgres_sink_killed_mid_stream(services: Endpoints, ns: str, tmp_path: Path) -> None:
    with scratch_schema(services.postgres_conninfo) as schema:

        def written() -> int:
            return pg_count(schema, "event_fills") + pg_count(schema, "event_opportunities")

        args = ["--only", "postgres", "--pg-schema", schema.name]
        kill_mid_stream_and_restart(services, ns, PG_TOPICS, args, written, tmp_path / "s.log")
        for table in ("event_fills", "event_opportunities"):
            rows = pg_positions(schema, table)
            assert len(rows) == PER_TOPIC
            assert len({r[3] for r in rows}) == PER_TOPIC
            assert no_gaps(rows)


def test_questdb_sink_killed_mid_stream(services: Endpoints, ns: str, tmp_path: Path) -> None:
    url = services.questdb_http_url
    prefix = f"{ns}_"
    tables = [f"{prefix}{SERIES_BY_TOPIC[t].name}" for t in QDB_TOPICS]

    def written() -> int:
        return sum(questdb_counts(url, t)[0] for t in tables)

    try:
        args = ["--only", "questdb", "--table-prefix", prefix]
        kill_mid_stream_and_restart(services, ns, QDB_TOPICS, args, written, tmp_path / "s.log")
        assert wait_until(lambda: all(questdb_settled(url, t) for t in tables), 60)
        for table in tables:
            assert questdb_counts(url, table) == (PER_TOPIC, PER_TOPIC)
    finally:
        for table in tables:
            questdb_drop(url, table)
