"""Effectively-once orders: the executor SIGKILLed at every named crash point and at random,
during 200 approved decisions, leaves 0 duplicate and 0 lost venue orders, the ledger equal
to the venues, and every signal in a terminal state.

The executor runs as ``fundingflow execute`` in a subprocess (real Kafka topics under a test
prefix, a scratch PostgreSQL schema), trading on the sim venues through their order gateway
served from this process, so the venue outlives every kill. The twin removes the guard (an
unknown outcome is resent instead of fetched by client id) and must produce duplicates.
"""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from executors.engine import CRASH_POINTS
from executors.engine import UNSAFE_RESEND_ENV
from tests.event_stores import EventProducer
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.ledger_db import ScratchSchema
from tests.ledger_db import scratch_schema
from tests.paper_venues import EXECUTOR_TOPICS
from tests.paper_venues import PaperVenues
from tests.paper_venues import decision
from tests.paper_venues import paper_venues
from tests.paper_venues import start_executor

DECISIONS = 200
TERMINAL_OR_HEDGED = {"HEDGED", "UNWOUND", "REJECTED", "CLOSED"}


@pytest.fixture
def venues() -> Iterator[PaperVenues]:
    with paper_venues() as v:
        yield v


@pytest.fixture
def schema(postgres_conninfo: str) -> Iterator[ScratchSchema]:
    with scratch_schema(postgres_conninfo) as s:
        yield s


@pytest.fixture
def prefix(kafka_bootstrap: str) -> Iterator[str]:
    p = f"t-exec-{uuid.uuid4().hex[:8]}."
    create_topics(kafka_bootstrap, p, EXECUTOR_TOPICS)
    yield p
    delete_topics(kafka_bootstrap, p, EXECUTOR_TOPICS)


def _send_decisions(
    bootstrap: str, registry: str, prefix: str, venues: PaperVenues, n: int
) -> None:
    producer = EventProducer(bootstrap, registry, prefix)
    producer.send(("risk.decision", decision(venues.now_ms)) for _ in range(n))


def _run(venues: PaperVenues, prefix: str, schema: ScratchSchema, log: Path, **env: str) -> int:
    proc = start_executor(venues.url, prefix, schema.name, log, "--until-idle", "4", **env)
    return proc.wait(timeout=180)


def _kill_at_random(
    venues: PaperVenues, prefix: str, schema: ScratchSchema, log: Path, rng: random.Random
) -> None:
    proc = start_executor(venues.url, prefix, schema.name, log, "--until-idle", "4")
    time.sleep(rng.uniform(2.0, 5.0))  # start-up is ~2 s: most kills land mid-trading
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def _ledger(schema: ScratchSchema) -> tuple[list[tuple[str, str]], dict[tuple[str, str], Decimal]]:
    with schema.connect() as conn:
        orders = [
            (str(r[0]), str(r[1]))
            for r in conn.execute("SELECT client_order_id, status FROM orders")
        ]
        net = {
            (str(r[0]), str(r[1])): Decimal(r[2])
            for r in conn.execute(
                "SELECT exchange, symbol, sum(CASE side WHEN 'BUY' THEN filled_base"
                " ELSE -filled_base END) FROM orders GROUP BY exchange, symbol"
            )
        }
    return orders, {k: v for k, v in net.items() if v != 0}


def _pairs(schema: ScratchSchema) -> dict[str, int]:
    with schema.connect() as conn:
        rows = conn.execute("SELECT status, count(*) FROM pairs GROUP BY status").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def test_kills_at_every_crash_point_and_at_random_lose_and_double_nothing(
    venues: PaperVenues,
    schema: ScratchSchema,
    prefix: str,
    kafka_bootstrap: str,
    schema_registry_url: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "executor.log"
    killed = []
    for point in CRASH_POINTS:  # 5 x 20 decisions, each batch killed at one named point
        _send_decisions(kafka_bootstrap, schema_registry_url, prefix, venues, 20)
        rc = _run(venues, prefix, schema, log, FUNDINGFLOW_EXECUTOR_CRASH_AT=f"{point}:1")
        killed.append((point, rc))
    rng = random.Random(11)
    for _ in range(10):  # 10 x 10 more, each run killed at a random time
        _send_decisions(kafka_bootstrap, schema_registry_url, prefix, venues, 10)
        _kill_at_random(venues, prefix, schema, log, rng)
    # a kill between marking a batch sent and its sends leaves orders the venue never saw:
    # fetched by client id, not found, they are closed unfilled (here after 1 s, not 30)
    settle = {"FUNDINGFLOW_EXECUTOR__LOST_AFTER_MS": "1000"}
    assert _run(venues, prefix, schema, log, **settle) == 0, log.read_text()[-3000:]

    assert all(rc == -signal.SIGKILL for _, rc in killed), killed  # every point was reached
    counts = venues.client_id_counts()
    duplicates = {cid: c for cid, c in counts.items() if c > 1}
    assert duplicates == {}
    orders, ledger_net = _ledger(schema)
    filled = {cid for cid, status in orders if status == "FILLED"}
    assert filled - set(counts) == set()  # no order the ledger holds filled is missing at a venue
    assert set(counts) <= {cid for cid, _ in orders}  # every venue order is in the ledger
    assert {cid for cid, status in orders if status == "NEW"} == set()  # nothing left unsent
    assert ledger_net == venues.net_positions()
    pairs = _pairs(schema)
    assert sum(pairs.values()) == DECISIONS
    assert set(pairs) <= TERMINAL_OR_HEDGED, pairs
    expired = [cid for cid, status in orders if status == "EXPIRED"]
    assert all(counts[cid] == 0 for cid in expired)  # closed as lost: never reached a venue
    assert pairs.get("HEDGED", 0) + pairs.get("UNWOUND", 0) + pairs.get("REJECTED", 0) == DECISIONS


def test_twin_resending_unknown_outcomes_doubles_orders(
    venues: PaperVenues,
    schema: ScratchSchema,
    prefix: str,
    kafka_bootstrap: str,
    schema_registry_url: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "executor.log"
    _send_decisions(kafka_bootstrap, schema_registry_url, prefix, venues, 20)
    unsafe = {UNSAFE_RESEND_ENV: "1"}
    rcs = []
    for n in range(3):
        rc = _run(
            venues,
            prefix,
            schema,
            log,
            FUNDINGFLOW_EXECUTOR_CRASH_AT=f"sent_before_ack:{2 + n}",
            **unsafe,
        )
        rcs.append(rc)
    assert _run(venues, prefix, schema, log, **unsafe) == 0, log.read_text()[-3000:]
    duplicates = {cid: c for cid, c in venues.client_id_counts().items() if c > 1}
    assert rcs[0] == -signal.SIGKILL
    # the restart resent the order it had sent before the kill: a second venue order; the
    # reconciliation that follows sees the venue hold more than the ledger and halts trading
    assert duplicates, "the twin without the guard should have doubled an order"
    _, ledger_net = _ledger(schema)
    assert ledger_net != venues.net_positions()  # and the ledger no longer equals the venue


def test_a_redelivered_batch_opens_nothing_twice(
    venues: PaperVenues,
    schema: ScratchSchema,
    prefix: str,
    kafka_bootstrap: str,
    schema_registry_url: str,
    tmp_path: Path,
) -> None:
    """Killed after the state of a batch is stored but before its offsets are committed, the
    executor reads the batch again on restart: the pairs exist, nothing is sent twice."""
    log = tmp_path / "executor.log"
    _send_decisions(kafka_bootstrap, schema_registry_url, prefix, venues, 10)
    rc = _run(venues, prefix, schema, log, FUNDINGFLOW_EXECUTOR_CRASH_AT="before_offset_commit:1")
    assert rc == -signal.SIGKILL
    assert _run(venues, prefix, schema, log) == 0
    assert max(venues.client_id_counts().values()) == 1
    assert _pairs(schema) == {"HEDGED": 10}
    with psycopg.connect(schema.conninfo, options=schema.options) as conn:
        published = conn.execute(
            "SELECT count(*) FROM order_transitions WHERE NOT published"
        ).fetchone()
    assert published == (0,)
