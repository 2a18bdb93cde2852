"""The executor's outbox: stored changes become ``exec.*`` records, published after the commit.

Every stored order change (``order_transitions``) and pair change (``pair_transitions``) is
published once its transaction has committed, and marked published after the broker
acknowledged it. A crash in between re-publishes on the next start: each record's event id is
derived from (client order id, seq) or (signal id, seq), so a second copy is a duplicate the
sinks drop (``ON CONFLICT (event_id)``), never a second fact.

Per order change: an ``exec.order_event`` record (status, cumulative fill, average price) and,
when the fill grew, an ``exec.fill`` record for the increment, priced as
``(avg_after * filled_after - avg_before * filled_before) / increment`` with the taker fee of
the instrument (market and IOC orders take liquidity). The intent (seq 0) is also the
``exec.command`` ``SubmitOrder`` (``Ledger.submitted``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from typing import Any
from typing import Protocol

import psycopg

from executors.ledger import Ledger
from executors.pair_store import PairStore
from processors.records import derived_id
from schemas.avro_record import AvroRecord
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Money
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.execution import Fill
from schemas.records.execution import LiquidityRole
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.portfolio import PositionChanged
from schemas.scalars import QUANTUM
from schemas.topics import EXEC_COMMAND
from schemas.topics import EXEC_FILL
from schemas.topics import EXEC_ORDER_EVENT
from schemas.topics import EXEC_PAIR
from schemas.topics import PORTFOLIO_POSITION

ZERO = Decimal(0)


class Publisher(Protocol):
    def publish(self, topic: str, record: AvroRecord) -> None: ...

    def publish_encoded(
        self, topic: str, value: bytes, key: bytes, partition_key: bytes | None = None
    ) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> None: ...


@dataclass(frozen=True, slots=True)
class OrderChange:
    """One stored order change with the order's fixed fields."""

    client_order_id: str
    seq: int
    status: OrderStatus
    filled_base: Decimal
    average_price: Decimal | None
    venue_order_id: str | None
    recorded_ms: int
    filled_before: Decimal
    average_before: Decimal | None
    instrument: InstrumentRef
    side: Side
    order_type: OrderType
    size_base: Decimal
    limit_price: Decimal | None
    signal_id: str
    leg_index: int
    slice_index: int
    purpose: OrderPurpose
    time_in_force: TimeInForce
    reduce_only: bool
    detail: str | None
    fee_rate: Decimal | None
    fee_currency: str | None


_SELECT = (
    "SELECT t.client_order_id, t.seq, t.to_status, t.filled_base, t.average_price_quote,"
    " t.venue_order_id, t.recorded_ms, coalesce(p.filled_base, 0), p.average_price_quote,"
    " o.exchange, o.symbol, o.market_type, o.side, o.order_type, o.amount_base, o.price_quote,"
    " o.signal_id, o.leg_index, o.slice_index, o.purpose, o.time_in_force, o.reduce_only,"
    " t.report->>'detail', o.fee_rate, o.fee_currency"
    " FROM order_transitions t JOIN orders o USING (client_order_id)"
    " LEFT JOIN order_transitions p"
    "   ON p.client_order_id = t.client_order_id AND p.seq = t.seq - 1"
)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _change(r: tuple[Any, ...]) -> OrderChange:
    return OrderChange(
        client_order_id=str(r[0]),
        seq=int(r[1]),
        status=OrderStatus(r[2]),
        filled_base=Decimal(r[3]),
        average_price=_dec(r[4]),
        venue_order_id=r[5],
        recorded_ms=int(r[6]),
        filled_before=Decimal(r[7]),
        average_before=_dec(r[8]),
        instrument=InstrumentRef(exchange=r[9], symbol=r[10], market_type=MarketType(r[11])),
        side=Side(r[12]),
        order_type=OrderType(r[13]),
        size_base=Decimal(r[14]),
        limit_price=_dec(r[15]),
        signal_id=str(r[16]),
        leg_index=int(r[17]),
        slice_index=int(r[18]),
        purpose=OrderPurpose(r[19]),
        time_in_force=TimeInForce(r[20]),
        reduce_only=bool(r[21]),
        detail=r[22],
        fee_rate=_dec(r[23]),
        fee_currency=r[24],
    )


def order_changes(
    conn: psycopg.Connection[Any],
    *,
    unpublished_only: bool = True,
    limit: int = 1000,
    signals: list[str] | None = None,
) -> list[OrderChange]:
    """Stored order changes, oldest first (only unpublished ones; only these signals')."""
    where, params = [], []
    if unpublished_only:
        where.append("NOT t.published")
    if signals is not None:
        where.append("o.signal_id = ANY(%s)")
        params.append(signals)
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(
        sql + " ORDER BY t.recorded_ms, t.client_order_id, t.seq LIMIT %s", (*params, limit)
    ).fetchall()
    return [_change(r) for r in rows]


def _envelope(kind: str, change: OrderChange) -> Envelope:
    return Envelope(
        event_id=derived_id(kind, change.client_order_id, change.seq),
        event_time_ms=change.recorded_ms,
        ingest_time_ms=change.recorded_ms,
        source_seq=change.seq,
        correlation_id=change.signal_id,
    )


def order_event(change: OrderChange) -> OrderEvent:
    return OrderEvent(
        envelope=_envelope("order", change),
        client_order_id=change.client_order_id,
        venue_order_id=change.venue_order_id,
        instrument=change.instrument,
        status=change.status,
        side=change.side,
        order_type=change.order_type,
        size_base=change.size_base,
        limit_price=change.limit_price,
        filled_size_base=change.filled_base,
        average_fill_price=change.average_price,
        detail=change.detail,
    )


def fill_price(change: OrderChange) -> Decimal | None:
    """The price of the change's fill increment (None when nothing was filled)."""
    increment = change.filled_base - change.filled_before
    if increment <= 0 or change.average_price is None:
        return None
    before = (change.average_before or ZERO) * change.filled_before
    return ((change.average_price * change.filled_base - before) / increment).quantize(
        QUANTUM, ROUND_HALF_EVEN
    )


def fill_record(change: OrderChange) -> Fill | None:
    """The fill of the change's increment, its fee at the order's recorded taker rate."""
    price = fill_price(change)
    if price is None:
        return None
    size = change.filled_base - change.filled_before
    rate = change.fee_rate or ZERO
    currency = change.fee_currency or change.instrument.symbol.split(":")[-1].split("/")[-1]
    return Fill(
        envelope=_envelope("fill", change),
        fill_id=derived_id("fill", change.client_order_id, change.seq),
        client_order_id=change.client_order_id,
        venue_order_id=change.venue_order_id,
        instrument=change.instrument,
        side=change.side,
        price=price,
        size_base=size,
        fee=Money(
            amount=(price * size * rate).quantize(QUANTUM, ROUND_HALF_EVEN), currency=currency
        ),
        liquidity=LiquidityRole.TAKER,
    )


@dataclass(frozen=True, slots=True)
class Staged:
    """Changes handed to the producer, marked published once the broker acknowledged them."""

    orders: tuple[tuple[str, int], ...]
    pairs: tuple[tuple[str, int], ...]

    @property
    def count(self) -> int:
        return len(self.orders) + len(self.pairs)


def stage(
    ledger: Ledger,
    pairs: PairStore,
    publisher: Publisher,
    on_fill: Callable[[Fill], tuple[PositionChanged, ...]] | None = None,
    limit: int = 1000,
) -> Staged | None:
    """Produce the records of the unpublished changes (up to ``limit`` of each kind) without
    waiting for the broker; None when there is nothing to publish. The caller marks them
    (:func:`mark_published`) only after ``publisher.flush`` returned: staging the same changes
    again before that publishes them twice (and books their fills twice), so one staged batch
    at a time. ``on_fill`` books each fill (the portfolio) and returns the position records."""
    changes = order_changes(ledger.conn, limit=limit)
    pair_rows = pairs.unpublished(limit)
    if not changes and not pair_rows:
        return None
    intents = ledger.submitted_many([c.client_order_id for c in changes if c.seq == 0])
    for change in changes:
        if change.seq == 0:
            publisher.publish(EXEC_COMMAND, intents[change.client_order_id])
        publisher.publish(EXEC_ORDER_EVENT, order_event(change))
        fill = fill_record(change)
        if fill is not None:
            publisher.publish(EXEC_FILL, fill)
            for position in on_fill(fill) if on_fill is not None else ():
                publisher.publish(PORTFOLIO_POSITION, position)
    for signal_id, _, state in pair_rows:  # stored as exec.pair's wire bytes: sent as they are
        publisher.publish_encoded(EXEC_PAIR, state, signal_id.encode())
    return Staged(
        tuple((c.client_order_id, c.seq) for c in changes),
        tuple((s, q) for s, q, _ in pair_rows),
    )


def mark_published(conn: psycopg.Connection[Any], pairs: PairStore, staged: Staged) -> int:
    """Mark staged changes published (after the broker acknowledged them); their count."""
    with conn.transaction():
        if staged.orders:
            conn.execute(
                "UPDATE order_transitions SET published = true WHERE (client_order_id, seq)"
                " IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
                ([c for c, _ in staged.orders], [q for _, q in staged.orders]),
            )
        pairs.mark_published(list(staged.pairs))
    return staged.count


def drain(
    ledger: Ledger,
    pairs: PairStore,
    publisher: Publisher,
    on_fill: Callable[[Fill], tuple[PositionChanged, ...]] | None = None,
) -> int:
    """Publish every unpublished change, wait for the broker, mark them; the count published.

    ``on_fill`` books each fill (the portfolio) and returns the position records to publish."""
    total = 0
    while (staged := stage(ledger, pairs, publisher, on_fill)) is not None:
        publisher.flush()
        total += mark_published(ledger.conn, pairs, staged)
    return total
