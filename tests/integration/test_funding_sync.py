"""``executors.funding_sync`` on the stack's PostgreSQL with a venue that states its history:
a refetched or restarted read stores and books each settlement once, the position held at the
settlement time (on the venue's clock) is what is expected, and a settlement paid on a
position the executor did not hold is a mismatch."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from executors.funding_sync import FundingSync
from executors.ledger import Ledger
from executors.pair_store import PairStore
from executors.portfolio import Portfolio
from processors.orders import Sent
from processors.orders import VenueReport
from processors.portfolio import funding_event_id
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Side
from schemas.records.execution import OrderStatus
from schemas.records.ops import Severity
from schemas.records.portfolio import FundingPaid
from schemas.registry import ConfluentRegistry
from tests.ledger_db import intent
from tests.ledger_db import scratch_schema

ETH = InstrumentRef(exchange="sim-okx", symbol="ETH/USDT:USDT", market_type=MarketType.PERP)
SESSION = "paper:test"
EPOCH = 1_000_000_000_000
HOUR = 3_600_000


class StatedVenue:
    """A venue whose clock and funding history the test sets."""

    id = "sim-okx"
    session = SESSION

    def __init__(self) -> None:
        self.now_ms = EPOCH
        self.history: list[FundingPaid] = []
        self.reads = 0

    async def time_ms(self) -> int:
        return self.now_ms

    async def funding_history(
        self, instrument: InstrumentRef, since_ms: int | None = None
    ) -> list[FundingPaid]:
        self.reads += 1
        return list(self.history)  # ignores since_ms: every read is a full refetch


def paid(at_ms: int, size: str, amount: str, rate: str = "0.0001") -> FundingPaid:
    return FundingPaid(
        envelope=Envelope(
            event_id=funding_event_id(ETH, at_ms), event_time_ms=at_ms, ingest_time_ms=at_ms
        ),
        instrument=ETH,
        funding_rate=Decimal(rate),
        funding_interval_ms=8 * HOUR,
        funding_time_ms=at_ms,
        net_size_base=Decimal(size),
        mark_price=Decimal(3000),
        amount_quote=Decimal(amount),
        quote_currency="USDT",
    )


class Published:
    def __init__(self) -> None:
        self.records: list[tuple[str, AvroRecord]] = []

    def publish(self, topic: str, record: AvroRecord) -> None:
        self.records.append((topic, record))

    def publish_encoded(
        self, topic: str, value: bytes, key: bytes, partition_key: bytes | None = None
    ) -> None:
        raise AssertionError(f"funding is published as records, not bytes ({topic})")

    def flush(self, timeout_s: float = 30.0) -> None:
        del timeout_s


class Clock:
    def __init__(self) -> None:
        self.ms = 5_000

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
def conn(postgres_conninfo: str) -> Iterator[psycopg.Connection[Any]]:
    with scratch_schema(postgres_conninfo) as schema, schema.connect(autocommit=True) as c:
        yield c


def _fill(ledger: Ledger, decision: str, side: Side, size: str, at_ms: int) -> None:
    order = intent(decision, instrument=ETH, size_base=Decimal(size)).model_copy(
        update={"side": side}
    )
    ledger.record_intent(order, now_ms=at_ms, venue_session=SESSION)
    ledger.apply(order.client_order_id, Sent(), now_ms=at_ms)
    report = VenueReport(OrderStatus.FILLED, Decimal(size), Decimal(3000), "v-" + decision)
    ledger.apply(order.client_order_id, report, now_ms=at_ms)


def _sync(
    conn: psycopg.Connection[Any], venue: StatedVenue, clock: Clock, registry: str
) -> tuple[FundingSync, Published, list[str]]:
    ledger = Ledger(conn)
    portfolio = Portfolio(ledger, PairStore(conn, Codec(ConfluentRegistry(registry))))
    portfolio.load(published_only=False)
    incidents: list[str] = []

    def incident(severity: Severity, code: str, message: str) -> None:
        incidents.append(f"{severity.value} {code} {message}")

    out = Published()
    sync = FundingSync(
        conn, {venue.id: venue}, portfolio, out, incident, session=SESSION, clock=clock
    )
    return sync, out, incidents


async def test_a_refetch_and_a_restart_store_and_book_each_settlement_once(
    conn: psycopg.Connection[Any], schema_registry_url: str
) -> None:
    venue, clock = StatedVenue(), Clock()
    sync, out, incidents = _sync(conn, venue, clock, schema_registry_url)
    await sync.sync()  # the clocks noted before any fill: local 5,000 = venue EPOCH
    _fill(Ledger(conn), "d1", Side.SELL, "2", at_ms=6_000)  # short 2 ETH
    clock.ms, venue.now_ms = 7_000, EPOCH + 8 * HOUR
    venue.history = [paid(EPOCH + 8 * HOUR, "-2", "0.6")]  # short receives 2 x 3000 x 0.0001
    first = await sync.sync()
    again = await sync.sync()  # the same history read again
    assert (first.stored, again.stored) == (1, 0)
    assert incidents == []
    assert [t for t, _ in out.records] == ["portfolio.funding"]
    assert sync.portfolio.total[("sim-okx", "ETH/USDT:USDT")].funding_quote == Decimal("0.6")
    restarted, out2, _ = _sync(conn, venue, clock, schema_registry_url)  # books from the table
    assert restarted.portfolio.total[("sim-okx", "ETH/USDT:USDT")].funding_quote == Decimal("0.6")
    assert (await restarted.sync()).stored == 0
    assert out2.records == []  # published once, before the restart
    rows = conn.execute("SELECT held_base, expected_quote FROM funding_settlements").fetchall()
    assert [(Decimal(r[0]), Decimal(r[1])) for r in rows] == [(Decimal(-2), Decimal("0.6"))]


async def test_the_position_held_at_the_settlement_time_is_what_is_expected(
    conn: psycopg.Connection[Any], schema_registry_url: str
) -> None:
    venue, clock = StatedVenue(), Clock()
    sync, _, incidents = _sync(conn, venue, clock, schema_registry_url)
    await sync.sync()  # local 5,000 = venue EPOCH
    _fill(Ledger(conn), "d1", Side.SELL, "2", at_ms=6_000)  # venue time EPOCH + 1 h
    _fill(Ledger(conn), "d2", Side.SELL, "1", at_ms=14_000)  # venue time EPOCH + 9 h
    clock.ms, venue.now_ms = 21_000, EPOCH + 16 * HOUR  # 1 local ms = 1 venue hour / 1,000
    venue.history = [
        paid(EPOCH + 8 * HOUR, "-2", "0.6"),  # before the second fill: 2 held
        paid(EPOCH + 16 * HOUR, "-3", "0.9"),  # after it: 3 held
    ]
    result = await sync.sync()
    assert result.stored == 2
    assert incidents == []
    rows = conn.execute(
        "SELECT held_base FROM funding_settlements ORDER BY funding_time_ms"
    ).fetchall()
    assert [Decimal(r[0]) for r in rows] == [Decimal(-2), Decimal(-3)]


async def test_a_payment_on_a_position_not_held_is_an_incident(
    conn: psycopg.Connection[Any], schema_registry_url: str
) -> None:
    venue, clock = StatedVenue(), Clock()
    sync, _, incidents = _sync(conn, venue, clock, schema_registry_url)
    await sync.sync()
    _fill(Ledger(conn), "d1", Side.SELL, "2", at_ms=6_000)
    clock.ms, venue.now_ms = 7_000, EPOCH + 8 * HOUR
    venue.history = [paid(EPOCH + 8 * HOUR, "-5", "1.5")]  # paid as if 5 were short
    result = await sync.sync()
    assert len(result.mismatches) == 1
    assert len(incidents) == 1
    assert incidents[0].startswith("WARNING FUNDING_MISMATCH sim-okx")
    book = sync.portfolio.total[("sim-okx", "ETH/USDT:USDT")]
    assert book.funding_quote == Decimal("1.5")  # booked as paid all the same
