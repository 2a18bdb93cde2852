"""Executors racing to send the same recorded intent: exactly one sends it.

Guard: :meth:`Ledger.apply` reduces under a row lock (``SELECT ... FOR UPDATE``) and
``order_transitions`` is keyed by (client order id, seq), so the ``Sent`` of one racer moves the
order to SUBMITTED and every other racer reads SUBMITTED and gets a RESUBMIT refusal.
Oracle: per intent, exactly one racer may send (one NEW -> SUBMITTED transition stored).
Twin: racers that read without the lock (all read NEW before any writes) and no
(client order id, seq) key must break the oracle: several racers are told to send.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest

from executors.ledger import Ledger
from processors.orders import OrderState
from processors.orders import Refused
from processors.orders import Sent
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.execution import OrderStatus
from schemas.records.execution import SubmitOrder
from tests.ledger_db import ScratchSchema
from tests.ledger_db import intent
from tests.ledger_db import scratch_schema

pytestmark = pytest.mark.fault

RACERS = 4
ROUNDS = 20
T = 1_767_225_600_000


def submit(decision: str) -> SubmitOrder:
    perp = InstrumentRef(exchange="sim", symbol="BTC/USDT:USDT", market_type=MarketType.PERP)
    return intent(decision, leg=1, instrument=perp)


class UnlockedLedger(Ledger):
    """The planted fault: reads without the row lock, every racer reading before any writes."""

    reads: threading.Barrier

    def _locked(self, cid: str) -> tuple[OrderState, int]:
        row = self.conn.execute(
            "SELECT client_order_id, amount_base, status, filled_base, average_price_quote,"
            " venue_order_id, not_found, detail, seq FROM orders WHERE client_order_id = %s",
            (cid,),
        ).fetchone()
        assert row is not None
        self.reads.wait()
        return OrderState(str(row[0]), Decimal(row[1]), OrderStatus(row[2])), int(row[8])


def race(schema: ScratchSchema, kind: type[Ledger]) -> dict[str, int]:
    """Senders per intent: racers whose ``Sent`` was not refused (each would call the venue)."""
    with Ledger(schema.connect()) as recorder:
        orders = [submit(f"send-{r}") for r in range(ROUNDS)]
        for order in orders:
            recorder.record_intent(order, now_ms=T)
    ledgers = [kind(schema.connect()) for _ in range(RACERS)]
    senders = {order.client_order_id: 0 for order in orders}
    lock = threading.Lock()
    try:
        for order in orders:
            start = threading.Barrier(RACERS)
            reads = threading.Barrier(RACERS)

            def send(
                ledger: Ledger,
                cid: str = order.client_order_id,
                start: threading.Barrier = start,
                reads: threading.Barrier = reads,
            ) -> None:
                if isinstance(ledger, UnlockedLedger):
                    ledger.reads = reads
                start.wait()
                _, outputs = ledger.apply(cid, Sent(), now_ms=T + 1)
                if not any(isinstance(o, Refused) for o in outputs):
                    with lock:
                        senders[cid] += 1

            threads = [threading.Thread(target=send, args=(ledger,)) for ledger in ledgers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        for ledger in ledgers:
            ledger.close()
    return senders


def stored_sends(schema: ScratchSchema) -> int:
    with schema.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FROM order_transitions WHERE from_status = 'NEW'"
            " AND to_status = 'SUBMITTED'"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def schema(postgres_conninfo: str) -> Iterator[ScratchSchema]:
    with scratch_schema(postgres_conninfo) as scratch:
        yield scratch


def test_racing_to_send_one_intent_exactly_one_racer_sends(schema: ScratchSchema) -> None:
    senders = race(schema, Ledger)
    print(f"{ROUNDS} intents x {RACERS} racers: senders {sum(senders.values())}")
    assert set(senders.values()) == {1}
    assert stored_sends(schema) == ROUNDS


def test_twin_without_the_row_lock_and_step_key_several_racers_send(schema: ScratchSchema) -> None:
    with schema.connect() as conn:
        conn.execute("ALTER TABLE order_transitions DROP CONSTRAINT order_transitions_pkey")
        conn.commit()
    senders = race(schema, UnlockedLedger)
    print(f"guard off: senders {sum(senders.values())}, stored sends {stored_sends(schema)}")
    assert set(senders.values()) != {1}  # the oracle catches the planted fault
    assert sum(senders.values()) == ROUNDS * RACERS  # every racer was told to send
