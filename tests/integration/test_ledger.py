"""The intent ledger on the stack's PostgreSQL: intents before sends, stored transitions."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from executors.errors import DuplicateSubmission
from executors.errors import ForeignClientId
from executors.errors import LedgerError
from executors.errors import LedgerNotMigrated
from executors.errors import UnknownOrder
from executors.ledger import Ledger
from executors.pair_store import PairStore
from fundingflow.stack.migrations import MIGRATIONS
from fundingflow.stack.migrations import apply_on
from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from processors.orders import Ambiguous
from processors.orders import FetchByClientId
from processors.orders import OrderState
from processors.orders import RefusalCode
from processors.orders import Refused
from processors.orders import Sent
from processors.orders import VenueReport
from schemas.codec import Codec
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus as S
from schemas.records.execution import PairUpdate
from schemas.records.execution import SubmitOrder
from schemas.registry import ConfluentRegistry
from schemas.samples import sample
from tests.ledger_db import ScratchSchema
from tests.ledger_db import scratch_schema

pytestmark = pytest.mark.integration

D = Decimal
T = 1_767_225_600_000


def submit(
    decision: str, leg: int = 0, slice_: int = 0, purpose: OrderPurpose = OrderPurpose.ENTRY
) -> SubmitOrder:
    cid = client_order_id(OrderKey(decision, leg, slice_, purpose)).hex
    return sample(SubmitOrder).model_copy(
        update={
            "client_order_id": cid,
            "signal_id": decision,
            "leg_index": leg,
            "slice_index": slice_,
            "purpose": purpose,
            "instrument": InstrumentRef(
                exchange="sim", symbol="BTC/USDT:USDT", market_type=MarketType.PERP
            ),
            "side": Side.BUY,
            "order_type": OrderType.LIMIT,
            "time_in_force": TimeInForce.GTC,
            "size_base": D(2),
            "limit_price": D(100),
            "reduce_only": False,
        }
    )


@pytest.fixture
def schema(postgres_conninfo: str) -> Iterator[ScratchSchema]:
    with scratch_schema(postgres_conninfo) as scratch:
        yield scratch


@pytest.fixture
def ledger(schema: ScratchSchema) -> Iterator[Ledger]:
    book = Ledger(schema.connect())
    yield book
    book.close()


def test_an_intent_is_recorded_new_with_its_first_transition(ledger: Ledger) -> None:
    order = submit("d1")
    state = ledger.record_intent(order, now_ms=T)
    assert (state.status, state.size_base, state.filled_base) == (S.NEW, D(2), D(0))
    assert ledger.get(order.client_order_id) == state
    (intent,) = ledger.transitions(order.client_order_id)
    assert (intent.seq, intent.from_status, intent.to_status) == (0, None, S.NEW)


def test_a_second_submission_of_the_same_id_is_refused(ledger: Ledger) -> None:
    order = submit("d1")
    ledger.record_intent(order, now_ms=T)
    ledger.apply(order.client_order_id, Sent(), now_ms=T + 1)
    with pytest.raises(DuplicateSubmission) as refused:
        ledger.record_intent(order, now_ms=T + 2)
    assert refused.value.client_order_id == order.client_order_id
    stored = ledger.get(order.client_order_id)
    assert stored is not None
    assert stored.status is S.SUBMITTED
    assert len(ledger.transitions(order.client_order_id)) == 2


def test_the_entry_and_the_unwind_of_a_slice_are_two_intents(ledger: Ledger) -> None:
    ledger.record_intent(submit("d1"), now_ms=T)
    ledger.record_intent(submit("d1", purpose=OrderPurpose.UNWIND), now_ms=T)
    assert len(ledger.unsent()) == 2


def test_an_id_not_derived_from_its_key_is_refused(ledger: Ledger) -> None:
    order = submit("d1").model_copy(update={"client_order_id": "f" * 32})
    with pytest.raises(ForeignClientId):
        ledger.record_intent(order, now_ms=T)
    unwind = submit("d1").model_copy(update={"purpose": OrderPurpose.UNWIND})  # the entry's id
    with pytest.raises(ForeignClientId):
        ledger.record_intent(unwind, now_ms=T)
    assert ledger.unsent() == []


def test_a_database_without_the_migrations_is_refused(postgres_conninfo: str) -> None:
    with (
        scratch_schema(postgres_conninfo, migrated=False) as bare,
        bare.connect() as conn,
        pytest.raises(LedgerNotMigrated),
    ):
        Ledger(conn)


def test_every_transition_is_stored_in_order_and_survives_a_new_connection(
    ledger: Ledger, schema: ScratchSchema
) -> None:
    cid = submit("d1").client_order_id
    ledger.record_intent(submit("d1"), now_ms=T)
    ledger.apply(cid, Sent(), now_ms=T + 1)
    ledger.apply(cid, VenueReport(S.ACCEPTED, venue_order_id="v1"), now_ms=T + 2)
    ledger.apply(cid, VenueReport(S.PARTIALLY_FILLED, D("0.5"), D(100)), now_ms=T + 3)
    final, _ = ledger.apply(cid, VenueReport(S.FILLED, D(2), D(103)), now_ms=T + 4)
    with Ledger(schema.connect()) as reopened:
        assert reopened.get(cid) == final
        steps = reopened.transitions(cid)
    assert [(t.seq, t.from_status, t.to_status) for t in steps] == [
        (0, None, S.NEW),
        (1, S.NEW, S.SUBMITTED),
        (2, S.SUBMITTED, S.ACCEPTED),
        (3, S.ACCEPTED, S.PARTIALLY_FILLED),
        (4, S.PARTIALLY_FILLED, S.FILLED),
    ]
    assert [t.filled_base for t in steps] == [D(0), D(0), D(0), D("0.5"), D(2)]
    assert [t.recorded_ms for t in steps] == [T, T + 1, T + 2, T + 3, T + 4]
    assert steps[4].report == {
        "type": "VenueReport",
        "status": "FILLED",
        "filled_base": "2",
        "average_price": "103",
        "venue_order_id": None,
        "detail": None,
    }
    assert (final.average_price, final.venue_order_id) == (D(103), "v1")


def test_a_refused_report_stores_nothing(ledger: Ledger) -> None:
    cid = submit("d1").client_order_id
    ledger.record_intent(submit("d1"), now_ms=T)
    ledger.apply(cid, Sent(), now_ms=T + 1)
    before = ledger.get(cid)
    state, outputs = ledger.apply(cid, Sent(), now_ms=T + 2)
    assert [o.code for o in outputs if isinstance(o, Refused)] == [RefusalCode.RESUBMIT]
    assert len(outputs) == 1
    assert state == before == ledger.get(cid)
    assert len(ledger.transitions(cid)) == 2


def test_an_ambiguous_send_is_stored_unknown_and_never_resent(ledger: Ledger) -> None:
    cid = submit("d1").client_order_id
    ledger.record_intent(submit("d1"), now_ms=T)
    ledger.apply(cid, Sent(), now_ms=T + 1)
    state, outputs = ledger.apply(cid, Ambiguous("ReadTimeout"), now_ms=T + 2)
    assert state.status is S.OUTCOME_UNKNOWN
    assert FetchByClientId(cid) in outputs
    _, again = ledger.apply(cid, Sent(), now_ms=T + 3)
    assert [o.code for o in again if isinstance(o, Refused)] == [RefusalCode.RESUBMIT]
    assert [o.client_order_id for o in ledger.unresolved()] == [cid]


def test_reconciliation_sees_unsent_unresolved_and_open_orders(ledger: Ledger) -> None:
    ids = {}
    for name in ("new", "submitted", "unknown", "accepted", "partial", "filled", "canceled"):
        order = submit(name)
        ids[name] = order.client_order_id
        ledger.record_intent(order, now_ms=T)
    for name in ("submitted", "unknown", "accepted", "partial", "filled", "canceled"):
        ledger.apply(ids[name], Sent(), now_ms=T + 1)
    ledger.apply(ids["unknown"], Ambiguous("502"), now_ms=T + 2)
    ledger.apply(ids["accepted"], VenueReport(S.ACCEPTED), now_ms=T + 2)
    ledger.apply(ids["partial"], VenueReport(S.ACCEPTED, D(1), D(100)), now_ms=T + 2)
    ledger.apply(ids["filled"], VenueReport(S.FILLED, D(2), D(100)), now_ms=T + 2)
    ledger.apply(ids["canceled"], VenueReport(S.CANCELED), now_ms=T + 2)

    def names(states: list[OrderState]) -> set[str]:
        by_id = {v: k for k, v in ids.items()}
        return {by_id[s.client_order_id] for s in states}

    assert names(ledger.unsent()) == {"new"}
    assert names(ledger.unresolved()) == {"submitted", "unknown"}
    assert names(ledger.open_orders()) == {"accepted", "partial"}
    terminal = ledger.in_statuses([S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED])
    assert names(terminal) == {"filled", "canceled"}


def test_unknown_client_ids_are_an_error(ledger: Ledger) -> None:
    with pytest.raises(UnknownOrder):
        ledger.apply("0" * 32, Sent(), now_ms=T)
    assert ledger.get("0" * 32) is None


def test_a_connection_inside_a_transaction_is_refused(schema: ScratchSchema) -> None:
    """Else an intent would be a savepoint of the caller's transaction, not committed."""
    with schema.connect() as conn:
        conn.execute("SELECT 1")  # opens a transaction (the connection is not autocommit)
        with pytest.raises(LedgerError):
            Ledger(conn)


def test_an_intent_is_committed_when_record_intent_returns(
    ledger: Ledger, schema: ScratchSchema
) -> None:
    order = submit("d1")
    ledger.record_intent(order, now_ms=T)
    with schema.connect() as other:  # another session sees it at once
        row = other.execute(
            "SELECT status FROM orders WHERE client_order_id = %s", (order.client_order_id,)
        ).fetchone()
    assert row == ("NEW",)


def test_the_migrations_apply_once(schema: ScratchSchema) -> None:
    with schema.connect() as conn:
        assert apply_on(conn) == []  # the fixture applied them all already
        names = [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]
    shipped = sorted(path.stem for path in MIGRATIONS.glob("*.sql"))
    assert names == shipped
    assert names[:2] == ["0001_ledger", "0002_order_intents"]


def test_a_batch_of_intents_with_one_already_recorded_stores_none(ledger: Ledger) -> None:
    """The engine records a round's intents in one pipelined transaction: one duplicate
    refuses the whole batch, named by its client id, and nothing of it is stored."""
    first, fresh = submit("d1"), submit("d2")
    ledger.record_intent(first, now_ms=T)
    with pytest.raises(DuplicateSubmission) as refused, ledger.writing():
        ledger.record_intents([(fresh, None, None), (first, None, None)], now_ms=T + 1)
    assert refused.value.client_order_id == first.client_order_id
    assert ledger.get(fresh.client_order_id) is None
    assert len(ledger.transitions(first.client_order_id)) == 1


def test_a_batch_of_intents_commits_together(ledger: Ledger) -> None:
    orders = [submit(f"d{i}") for i in range(3)]
    with ledger.writing():
        states = ledger.record_intents([(o, D("0.0005"), "USDT") for o in orders], now_ms=T)
    assert [s.status for s in states] == [S.NEW] * 3
    assert set(ledger.get_many([o.client_order_id for o in orders])) == {
        o.client_order_id for o in orders
    }


def test_a_batched_pair_change_whose_seq_does_not_follow_stores_nothing(
    schema: ScratchSchema, schema_registry_url: str
) -> None:
    """``update_many`` (the engine's round of pair changes) checks every seq: a stale change
    refuses the whole batch; the same batch in sequence is stored."""
    with schema.connect() as conn:
        ledger = Ledger(conn)
        store = PairStore(conn, Codec(ConfluentRegistry(schema_registry_url)))
        pairs = [
            sample(PairUpdate).model_copy(update={"signal_id": f"s{i}", "seq": 0}) for i in range(2)
        ]
        with ledger.writing():
            assert store.insert_many(pairs, venue_session="paper") == {"s0", "s1"}
        with ledger.writing():  # a redelivery inserts nothing
            assert store.insert_many(pairs, venue_session="paper") == set()
        nxt = [p.model_copy(update={"seq": 1}) for p in pairs]
        stale = [nxt[0], pairs[1].model_copy(update={"seq": 3})]
        with pytest.raises(RuntimeError, match="does not follow"), ledger.writing():
            store.update_many(stale)
        assert {s: p.seq for s, p in store.get_many(["s0", "s1"]).items()} == {"s0": 0, "s1": 0}
        with ledger.writing():
            store.update_many(nxt)
        assert {s: p.seq for s, p in store.get_many(["s0", "s1"]).items()} == {"s0": 1, "s1": 1}
        assert len(store.unpublished()) == 4
