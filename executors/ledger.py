"""The durable intent ledger on PostgreSQL: an order is recorded before it is sent.

``record_intent`` writes the order as ``NEW`` and commits before anything is sent; the table is
unique on the client order id, so a second submission of the same id (a redelivered decision,
a second executor) raises :class:`~executors.errors.DuplicateSubmission` and is never sent.
``apply`` runs the pure reducer :func:`processors.orders.apply` on the stored state under a row
lock and stores the result with one ``order_transitions`` row per change, in one transaction;
so of two executors that race to send the same intent, one moves it to ``SUBMITTED`` and the
other gets a ``RESUBMIT`` refusal. The tables come from the project's migrations
(``fundingflow/stack/migrations``, applied by ``fundingflow stack up`` or ``fundingflow db
migrate``); the ledger checks that they are applied and never creates them itself.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus
from psycopg.types.json import Jsonb

from executors.errors import DuplicateSubmission
from executors.errors import ForeignClientId
from executors.errors import LedgerError
from executors.errors import LedgerNotMigrated
from executors.errors import UnknownOrder
from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from processors.orders import OPEN
from processors.orders import OrderState
from processors.orders import Output
from processors.orders import Refused
from processors.orders import Report
from processors.orders import apply as reduce
from processors.orders import new_order
from processors.records import derived_id
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.execution import SubmitOrder

REQUIRED_MIGRATION = "0006_execution"
UNRESOLVED = frozenset({OrderStatus.SUBMITTED, OrderStatus.OUTCOME_UNKNOWN})
"""Sent orders whose outcome the venue has not stated: settle them by client id."""

_SELECT_STATE = (
    "SELECT client_order_id, amount_base, status, filled_base, average_price_quote,"
    " venue_order_id, not_found, detail, seq FROM orders"
)
"""The columns :func:`_state` reads, in its order; every query below extends it."""
_DUPLICATE_KEY = re.compile(r"\(client_order_id\)=\(([^)]*)\)")
"""The client order id in PostgreSQL's unique-violation detail ``Key (client_order_id)=(..)``."""
_INSERT_ORDER = (
    "INSERT INTO orders (client_order_id, signal_id, leg_index, slice_index, purpose, exchange,"
    " symbol, market_type, side, order_type, time_in_force, amount_base, price_quote,"
    " reduce_only, status, created_ms, updated_ms, venue_session, fee_rate, fee_currency)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_TRANSITION = (
    "INSERT INTO order_transitions (client_order_id, seq, from_status, to_status,"
    " filled_base, report, recorded_ms, average_price_quote, venue_order_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One stored state change (``seq`` 0 is the intent, with ``from_status`` None)."""

    client_order_id: str
    seq: int
    from_status: OrderStatus | None
    to_status: OrderStatus
    filled_base: Decimal
    report: dict[str, Any]
    recorded_ms: int


def _transition_row(
    state: OrderState,
    seq: int,
    previous: OrderStatus | None,
    report: Report | None,
    now_ms: int,
) -> tuple[Any, ...]:
    return (
        state.client_order_id,
        seq,
        None if previous is None else previous.value,
        state.status.value,
        state.filled_base,
        Jsonb(report_json(report)),
        now_ms,
        state.average_price,
        state.venue_order_id,
    )


def report_json(report: Report | None) -> dict[str, Any]:
    """A report as JSON: its type and fields, decimals and enums as text."""
    if report is None:
        return {"type": "Intent"}
    fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    plain = {k: v if v is None or isinstance(v, int) else str(v) for k, v in fields.items()}
    return {"type": type(report).__name__, **plain}


@dataclass(frozen=True, slots=True)
class SessionPosition:
    """A venue session's net filled position in one instrument, from the ledger."""

    session: str
    instrument: InstrumentRef
    net_base: Decimal
    last_price: Decimal | None


class Ledger:
    """Order intents and their states, on one psycopg connection (not shared across threads).

    The connection is switched to autocommit: each ``record_intent`` and ``apply`` is one
    explicit transaction, committed when the call returns, and reads hold no transaction.
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        if conn.info.transaction_status is not TransactionStatus.IDLE:
            raise LedgerError("the ledger needs a connection without an open transaction")
        conn.autocommit = True  # every write below is its own committed transaction
        self.conn = conn
        self._check_migrated()

    @classmethod
    def connect(cls, conninfo: str, **kwargs: Any) -> Ledger:
        return cls(psycopg.connect(conninfo, **kwargs))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_migrated(self) -> None:
        try:
            row = self.conn.execute(
                "SELECT 1 FROM schema_migrations WHERE name = %s", (REQUIRED_MIGRATION,)
            ).fetchone()
        except pg_errors.UndefinedTable:
            row = None
        if row is None:
            raise LedgerNotMigrated(f"migration {REQUIRED_MIGRATION} is not applied")

    # act

    def record_intent(
        self,
        order: SubmitOrder,
        *,
        now_ms: int,
        venue_session: str = "live",
        fee_rate: Decimal | None = None,
        fee_currency: str | None = None,
    ) -> OrderState:
        """Record ``order`` as NEW and commit; the caller may send it only after this returns."""
        with self.writing():
            (state,) = self.record_intents(
                [(order, fee_rate, fee_currency)], now_ms=now_ms, venue_session=venue_session
            )
        return state

    def record_intents(
        self,
        intents: Sequence[tuple[SubmitOrder, Decimal | None, str | None]],
        *,
        now_ms: int,
        venue_session: str = "live",
    ) -> list[OrderState]:
        """Queue the intents (order, fee rate, fee currency) as NEW in the caller's
        transaction (:meth:`writing`): none may be sent before that transaction committed, and
        a client order id already recorded makes the commit fail with DuplicateSubmission."""
        rows, transitions, states = [], [], []
        for order, fee_rate, fee_currency in intents:
            key = OrderKey(order.signal_id, order.leg_index, order.slice_index, order.purpose)
            if client_order_id(key).hex != order.client_order_id:
                raise ForeignClientId(
                    f"{order.client_order_id} is not the id of {key} ({client_order_id(key).hex})"
                )
            state = new_order(order.client_order_id, order.size_base)
            ins = order.instrument
            rows.append(
                (
                    order.client_order_id, order.signal_id, order.leg_index, order.slice_index,
                    order.purpose.value, ins.exchange, ins.symbol, ins.market_type.value,
                    order.side.value, order.order_type.value, order.time_in_force.value,
                    order.size_base, order.limit_price, order.reduce_only, state.status.value,
                    now_ms, now_ms, venue_session, fee_rate, fee_currency,
                )
            )  # fmt: skip
            transitions.append(_transition_row(state, 0, None, None, now_ms))
            states.append(state)
        if rows:
            with self.conn.cursor() as cur:
                cur.executemany(_INSERT_ORDER, rows)
                cur.executemany(_INSERT_TRANSITION, transitions)
        return states

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One transaction in pipeline mode: what is queued inside goes to the server without
        waiting for each answer and commits when the block ends (a read inside waits for the
        statements before it). A client order id recorded twice raises DuplicateSubmission
        and nothing of the transaction is stored. Nested, it joins the outer transaction."""
        try:
            with self.conn.pipeline(), self.conn.transaction():
                yield
        except pg_errors.UniqueViolation as exc:
            if exc.diag.table_name != "orders":
                raise
            found = _DUPLICATE_KEY.search(exc.diag.message_detail or "")
            raise DuplicateSubmission(found.group(1) if found else str(exc)) from exc

    def apply(
        self, cid: str, report: Report, *, now_ms: int
    ) -> tuple[OrderState, tuple[Output, ...]]:
        """Apply ``report`` to the stored order and store the result (one transaction).

        A refusal (a :class:`~processors.orders.Refused` output) stores nothing.
        """
        with self.conn.transaction():
            before, seq = self._locked(cid)
            after, outputs = reduce(before, report)
            if after == before or any(isinstance(o, Refused) for o in outputs):
                return after, outputs
            self.conn.execute(
                "UPDATE orders SET status = %s, filled_base = %s, average_price_quote = %s,"
                " venue_order_id = %s, not_found = %s, detail = %s, seq = %s, updated_ms = %s"
                " WHERE client_order_id = %s",
                (
                    after.status.value,
                    after.filled_base,
                    after.average_price,
                    after.venue_order_id,
                    after.not_found,
                    after.detail,
                    seq + 1,
                    now_ms,
                    cid,
                ),
            )
            self._insert_transition(after, seq + 1, before.status, report, now_ms)
        return after, outputs

    def apply_many(
        self, reports: Sequence[tuple[str, Report]], *, now_ms: int
    ) -> dict[str, tuple[OrderState, tuple[Output, ...]]]:
        """Apply several reports in one transaction: one locked read of every order, the
        reducer in order (several reports of one order fold), one batch of writes. Each
        order's result is what :meth:`apply` would give for its reports one after another."""
        if not reports:
            return {}
        with self.writing():  # the locked read, then the writes and the commit in one flight
            cids = sorted({cid for cid, _ in reports})  # lock in one order: no deadlock
            rows = self.conn.execute(
                _SELECT_STATE + " WHERE client_order_id = ANY(%s) ORDER BY client_order_id"
                " FOR UPDATE",
                (cids,),
            ).fetchall()
            current = {str(r[0]): (_state(r), int(r[8])) for r in rows}
            missing = [cid for cid in cids if cid not in current]
            if missing:
                raise UnknownOrder(missing[0])
            out: dict[str, tuple[OrderState, tuple[Output, ...]]] = {}
            updates: dict[str, tuple[OrderState, int]] = {}
            transitions = []
            for cid, report in reports:
                before, seq = current[cid]
                after, outputs = reduce(before, report)
                out[cid] = (after, outputs)
                if after == before or any(isinstance(o, Refused) for o in outputs):
                    continue
                current[cid] = (after, seq + 1)
                updates[cid] = (after, seq + 1)
                transitions.append(
                    (
                        cid, seq + 1, before.status.value, after.status.value, after.filled_base,
                        Jsonb(report_json(report)), now_ms, after.average_price,
                        after.venue_order_id,
                    )
                )  # fmt: skip
            with self.conn.cursor() as cur:
                cur.executemany(
                    "UPDATE orders SET status = %s, filled_base = %s, average_price_quote = %s,"
                    " venue_order_id = %s, not_found = %s, detail = %s, seq = %s,"
                    " updated_ms = %s WHERE client_order_id = %s",
                    [
                        (
                            a.status.value,
                            a.filled_base,
                            a.average_price,
                            a.venue_order_id,
                            a.not_found,
                            a.detail,
                            seq,
                            now_ms,
                            cid,
                        )
                        for cid, (a, seq) in updates.items()
                    ],
                )
                cur.executemany(_INSERT_TRANSITION, transitions)
        return out

    def _locked(self, cid: str) -> tuple[OrderState, int]:
        """The stored state and its seq, the row locked until the transaction ends.

        The lock serialises executors applying reports to one order: of two racing to send
        it, the second reads SUBMITTED and is refused. The (client order id, seq) key of
        ``order_transitions`` refuses a second writer of the same step as well.
        """
        row = self.conn.execute(
            _SELECT_STATE + " WHERE client_order_id = %s FOR UPDATE", (cid,)
        ).fetchone()
        if row is None:
            raise UnknownOrder(cid)
        return _state(row), int(row[8])

    def _insert_transition(
        self,
        state: OrderState,
        seq: int,
        previous: OrderStatus | None,
        report: Report | None,
        now_ms: int,
    ) -> None:
        self.conn.execute(_INSERT_TRANSITION, _transition_row(state, seq, previous, report, now_ms))

    # request

    def submitted_many(self, cids: Iterable[str]) -> dict[str, SubmitOrder]:
        """The recorded orders of ``cids``, in one query."""
        rows = self.conn.execute(
            _SELECT_ORDER + " WHERE client_order_id = ANY(%s)", (list(cids),)
        ).fetchall()
        return {str(r[14]): _order(str(r[14]), r) for r in rows}

    def get_many(self, cids: Iterable[str]) -> dict[str, OrderState]:
        """The stored states of ``cids`` (absent ids are left out), in one query."""
        rows = self.conn.execute(
            _SELECT_STATE + " WHERE client_order_id = ANY(%s)", (list(cids),)
        ).fetchall()
        return {str(r[0]): _state(r) for r in rows}

    def get(self, cid: str) -> OrderState | None:
        row = self.conn.execute(_SELECT_STATE + " WHERE client_order_id = %s", (cid,)).fetchone()
        return None if row is None else _state(row)

    def submitted(self, cid: str) -> SubmitOrder:
        """The order as it was recorded (what a send of the intent sends)."""
        row = self.conn.execute(_SELECT_ORDER + " WHERE client_order_id = %s", (cid,)).fetchone()
        if row is None:
            raise UnknownOrder(cid)
        return _order(cid, row)

    def net_positions(self, venue_session: str) -> dict[tuple[str, str], Decimal]:
        """Net filled base size per (exchange, symbol) of the session's orders (buys +)."""
        rows = self.conn.execute(
            "SELECT exchange, symbol, sum(CASE side WHEN 'BUY' THEN filled_base"
            " ELSE -filled_base END) FROM orders WHERE venue_session = %s"
            " GROUP BY exchange, symbol",
            (venue_session,),
        ).fetchall()
        return {(str(r[0]), str(r[1])): Decimal(r[2]) for r in rows}

    def held_positions(self) -> list[SessionPosition]:
        """Every (venue session, instrument) with a filled order: its net base size (buys +)
        and the average price of its latest fill, by session, exchange and symbol."""
        rows = self.conn.execute(
            "SELECT venue_session, exchange, symbol, market_type,"
            " sum(CASE side WHEN 'BUY' THEN filled_base ELSE -filled_base END),"
            " (array_agg(average_price_quote ORDER BY updated_ms DESC, client_order_id)"
            " FILTER (WHERE filled_base > 0))[1]"
            " FROM orders WHERE filled_base > 0"
            " GROUP BY venue_session, exchange, symbol, market_type"
            " ORDER BY venue_session, exchange, symbol",
        ).fetchall()
        return [
            SessionPosition(
                session=str(r[0]),
                instrument=InstrumentRef(
                    exchange=str(r[1]), symbol=str(r[2]), market_type=MarketType(r[3])
                ),
                net_base=Decimal(r[4]),
                last_price=None if r[5] is None else Decimal(r[5]),
            )
            for r in rows
        ]

    def in_statuses(self, statuses: Iterable[OrderStatus]) -> list[OrderState]:
        """Orders in any of ``statuses``, by client order id."""
        rows = self.conn.execute(
            _SELECT_STATE + " WHERE status = ANY(%s) ORDER BY client_order_id",
            ([s.value for s in statuses],),
        ).fetchall()
        return [_state(row) for row in rows]

    def unsent(self) -> list[OrderState]:
        """Intents never sent (NEW): safe to send, exactly once, after a restart."""
        return self.in_statuses([OrderStatus.NEW])

    def unresolved(self) -> list[OrderState]:
        """Sent orders without a venue answer (SUBMITTED, OUTCOME_UNKNOWN): fetch by client id."""
        return self.in_statuses(UNRESOLVED)

    def open_orders(self) -> list[OrderState]:
        """Orders the venue holds open (ACCEPTED, PARTIALLY_FILLED): compare with its list."""
        return self.in_statuses(OPEN)

    def transitions(self, cid: str) -> list[Transition]:
        rows = self.conn.execute(
            "SELECT client_order_id, seq, from_status, to_status, filled_base, report,"
            " recorded_ms FROM order_transitions WHERE client_order_id = %s ORDER BY seq",
            (cid,),
        ).fetchall()
        return [
            Transition(
                str(r[0]),
                int(r[1]),
                None if r[2] is None else OrderStatus(r[2]),
                OrderStatus(r[3]),
                Decimal(r[4]),
                r[5] if isinstance(r[5], dict) else json.loads(r[5]),
                int(r[6]),
            )
            for r in rows
        ]


_SELECT_ORDER = (
    "SELECT exchange, symbol, market_type, side, order_type, amount_base, price_quote,"
    " signal_id, leg_index, slice_index, purpose, time_in_force, reduce_only, created_ms,"
    " client_order_id FROM orders"
)


def _order(cid: str, row: tuple[Any, ...]) -> SubmitOrder:
    return SubmitOrder(
        envelope=Envelope(
            event_id=derived_id("command", cid, 0),
            event_time_ms=int(row[13]),
            ingest_time_ms=int(row[13]),
            correlation_id=str(row[7]),
        ),
        client_order_id=cid,
        signal_id=str(row[7]),
        leg_index=int(row[8]),
        slice_index=int(row[9]),
        instrument=InstrumentRef(
            exchange=str(row[0]), symbol=str(row[1]), market_type=MarketType(row[2])
        ),
        side=Side(row[3]),
        order_type=OrderType(row[4]),
        size_base=Decimal(row[5]),
        limit_price=None if row[6] is None else Decimal(row[6]),
        purpose=OrderPurpose(row[10]),
        time_in_force=TimeInForce(row[11]),
        reduce_only=bool(row[12]),
    )


def _state(row: tuple[Any, ...]) -> OrderState:
    return OrderState(
        client_order_id=str(row[0]),
        size_base=Decimal(row[1]),
        status=OrderStatus(row[2]),
        filled_base=Decimal(row[3]),
        average_price=None if row[4] is None else Decimal(row[4]),
        venue_order_id=row[5],
        not_found=int(row[6]),
        detail=row[7],
    )
