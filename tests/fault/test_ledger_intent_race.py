"""Two executors racing the same client order id: exactly one records the intent.

Guard: the ledger's uniqueness on the client order id (``orders`` primary key, and
``order_transitions`` keyed by (client order id, seq)); ``record_intent`` turns the violation
into :class:`~executors.errors.DuplicateSubmission`, so the loser never sends.
Oracle: per client id, exactly one racer wins and exactly one intent row exists.
Twin: the same race with the uniqueness dropped must break the oracle (duplicates appear).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest

from executors.errors import DuplicateSubmission
from executors.ledger import Ledger
from schemas.records.execution import SubmitOrder
from tests.ledger_db import ScratchSchema
from tests.ledger_db import intent
from tests.ledger_db import scratch_schema

pytestmark = pytest.mark.fault

RACERS = 4
ROUNDS = 25
T = 1_767_225_600_000


def submit(decision: str) -> SubmitOrder:
    return intent(decision)


def race(schema: ScratchSchema) -> tuple[Counter[str], Counter[str]]:
    """``ROUNDS`` client ids, each recorded by ``RACERS`` connections released at once.

    Returns the winners per client id and the intent rows per client id.
    """
    ledgers = [Ledger(schema.connect()) for _ in range(RACERS)]
    wins: Counter[str] = Counter()
    lock = threading.Lock()
    try:
        for round_ in range(ROUNDS):
            order = submit(f"race-{round_}")
            start = threading.Barrier(RACERS)

            def record(
                ledger: Ledger, order: SubmitOrder = order, start: threading.Barrier = start
            ) -> None:
                start.wait()
                try:
                    ledger.record_intent(order, now_ms=T)
                except DuplicateSubmission:
                    return
                with lock:
                    wins[order.client_order_id] += 1

            threads = [threading.Thread(target=record, args=(ledger,)) for ledger in ledgers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        for ledger in ledgers:
            ledger.close()
    with schema.connect() as conn:
        rows = Counter(str(r[0]) for r in conn.execute("SELECT client_order_id FROM orders"))
    return wins, rows


def exactly_once_problems(wins: Counter[str], rows: Counter[str]) -> list[str]:
    """The oracle: every raced client id has exactly one winner and one intent row."""
    expected = {submit(f"race-{r}").client_order_id for r in range(ROUNDS)}
    problems = [f"{cid}: {wins[cid]} winners" for cid in sorted(expected) if wins[cid] != 1]
    problems += [f"{cid}: {rows[cid]} rows" for cid in sorted(expected) if rows[cid] != 1]
    return problems


@pytest.fixture
def schema(postgres_conninfo: str) -> Iterator[ScratchSchema]:
    with scratch_schema(postgres_conninfo) as scratch:
        yield scratch


def test_racing_the_same_client_id_exactly_one_intent_wins(schema: ScratchSchema) -> None:
    wins, rows = race(schema)
    print(
        f"{ROUNDS} ids x {RACERS} racers: winners {sum(wins.values())}, rows {sum(rows.values())}"
    )
    assert exactly_once_problems(wins, rows) == []


def test_twin_without_the_unique_client_id_duplicates_appear(schema: ScratchSchema) -> None:
    with schema.connect() as conn:
        conn.execute("ALTER TABLE orders DROP CONSTRAINT orders_pkey")
        conn.execute("ALTER TABLE order_transitions DROP CONSTRAINT order_transitions_pkey")
        conn.commit()
    wins, rows = race(schema)
    print(f"guard off: winners {sum(wins.values())}, rows {sum(rows.values())}")
    problems = exactly_once_problems(wins, rows)
    assert problems  # the oracle catches the planted fault
    assert sum(rows.values()) > ROUNDS  # duplicates appear: one order, several intents
