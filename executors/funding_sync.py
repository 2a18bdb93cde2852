"""Funding from the venues' funding history: stored once, booked, published, checked.

On start and with every reconciliation the executor reads, per venue, the funding history of
each perp instrument its session has traded (from the last stored settlement on). Each entry
is a ``portfolio.funding`` ``FundingPaid`` record as the venue paid it (normalized by the
connectors; its event id is derived from the venue, the instrument and the funding time). Per
new settlement, in one transaction per venue:

1. what the position held at the settlement time should have got is computed
   (:mod:`processors.funding_settlements`: the ledger's fills placed on the venue's clock, the
   venue's rate and mark, ``processors.portfolio.expected_funding``);
2. paid and expected are stored (``funding_settlements``, unique on the event id: a refetch or
   a restart stores nothing twice);
3. after the commit the paid record is booked in the portfolio (the funding part of PnL is what
   the venue paid) and published to ``portfolio.funding`` once; a difference beyond the
   tolerance raises an ``ops.incident`` (``FUNDING_MISMATCH``) and does not halt trading.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

import psycopg
import structlog

from executors.engine import wall_ms
from executors.funding_store import FundingStore
from executors.outbox import Publisher
from executors.outbox import fill_record
from executors.outbox import order_changes
from executors.portfolio import Portfolio
from processors.funding_settlements import ClockMark
from processors.funding_settlements import FundingCheck
from processors.funding_settlements import FundingTolerance
from processors.funding_settlements import check
from processors.funding_settlements import held_at
from processors.portfolio import key_of
from schemas.errors import FundingflowError
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.execution import Fill
from schemas.records.ops import Severity
from schemas.records.portfolio import FundingPaid
from schemas.topics import PORTFOLIO_FUNDING

log = structlog.get_logger("fundingflow.executor.funding")

Incident = Callable[[Severity, str, str], None]


class FundingVenue(Protocol):
    """What the funding read needs of a venue (an ``OrderVenue`` is one)."""

    async def time_ms(self) -> int: ...

    async def funding_history(
        self, instrument: InstrumentRef, since_ms: int | None = None
    ) -> list[FundingPaid]: ...


MISMATCH_CODE = "FUNDING_MISMATCH"


@dataclass(slots=True)
class FundingSyncResult:
    fetched: int = 0
    stored: int = 0
    published: int = 0
    mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class FundingSync:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        venues: Mapping[str, FundingVenue],
        portfolio: Portfolio,
        publisher: Publisher,
        incident: Incident,
        *,
        session: str,
        tolerance: FundingTolerance | None = None,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.conn = conn
        self.venues = dict(venues)
        self.portfolio = portfolio
        self.publisher = publisher
        self.incident = incident
        self.session = session
        self.tolerance = tolerance or FundingTolerance()
        self.clock = clock
        self.store = FundingStore(conn)

    def traded(self, exchange: str) -> list[InstrumentRef]:
        """The perp instruments this session has filled orders on at ``exchange``."""
        rows = self.conn.execute(
            "SELECT DISTINCT symbol FROM orders WHERE venue_session = %s AND exchange = %s"
            " AND market_type = %s AND filled_base > 0 ORDER BY symbol",
            (self.session, exchange, MarketType.PERP.value),  # spot settles no funding
        ).fetchall()
        return [
            InstrumentRef(exchange=exchange, symbol=str(r[0]), market_type=MarketType.PERP)
            for r in rows
        ]

    def _fills(self, instrument: InstrumentRef) -> list[Fill]:
        """Every fill of this session on ``instrument``, from the ledger."""
        rows = self.conn.execute(
            "SELECT DISTINCT signal_id FROM orders WHERE venue_session = %s AND exchange = %s"
            " AND symbol = %s AND filled_base > 0",
            (self.session, instrument.exchange, instrument.symbol),
        ).fetchall()
        changes = order_changes(
            self.conn, unpublished_only=False, limit=10_000_000, signals=[str(r[0]) for r in rows]
        )
        key = (instrument.exchange, instrument.symbol)
        fills = (fill_record(c) for c in changes if key_of(c.instrument) == key)
        return [f for f in fills if f is not None]

    async def _mark(self, exchange: str, venue: FundingVenue) -> ClockMark:
        before = self.clock()
        venue_ms = await venue.time_ms()
        mark = ClockMark((before + self.clock()) // 2, venue_ms)
        self.store.add_mark(self.session, exchange, mark)
        return mark

    async def sync(self) -> FundingSyncResult:
        """Read every venue's new settlements, store, book, publish and check them."""
        result = FundingSyncResult()
        for exchange, venue in sorted(self.venues.items()):
            try:
                await self._sync_venue(exchange, venue, result)
            except FundingflowError as exc:  # a venue that cannot answer now: next time
                result.errors.append(f"{exchange}: {exc}")
                log.warning("funding_read_failed", venue=exchange, detail=str(exc)[:300])
        result.published = self.publish()
        return result

    async def _sync_venue(
        self, exchange: str, venue: FundingVenue, result: FundingSyncResult
    ) -> None:
        await self._mark(exchange, venue)
        instruments = self.traded(exchange)
        if not instruments:
            return
        marks = self.store.marks(self.session, exchange)
        checks: list[FundingCheck] = []
        for instrument in instruments:
            last = self.store.last_settled(exchange, instrument.symbol)
            paid = await venue.funding_history(instrument, None if last is None else last + 1)
            result.fetched += len(paid)
            fresh = [p for p in paid if key_of(p.instrument) == key_of(instrument)]
            known = self.store.known([p.envelope.event_id for p in fresh])
            fresh = [p for p in fresh if p.envelope.event_id not in known]
            if not fresh:
                continue
            fills = self._fills(instrument)
            key = (instrument.exchange, instrument.symbol)
            for p in sorted(fresh, key=lambda p: p.funding_time_ms):
                held = held_at(fills, key, p.funding_time_ms, marks)
                checks.append(check(p, held, self.tolerance))
        now = self.clock()
        with self.conn.transaction():
            stored = [
                c for c in checks if self.store.insert(c, venue_session=self.session, now_ms=now)
            ]
        for c in stored:
            self.portfolio.on_funding(c.paid)
            log.info(
                "funding_settled",
                venue=exchange,
                symbol=c.paid.instrument.symbol,
                at=c.paid.funding_time_ms,
                paid=str(c.paid.amount_quote),
                expected=str(c.expected.amount_quote),
            )
            if not c.within_tolerance:
                result.mismatches.append(c.describe())
                self.incident(Severity.WARNING, MISMATCH_CODE, c.describe())
        result.stored += len(stored)

    def publish(self) -> int:
        """Publish every stored settlement not yet published (``portfolio.funding``)."""
        pending = self.store.settlements(unpublished_only=True)
        if not pending:
            return 0
        for s in pending:
            self.publisher.publish(PORTFOLIO_FUNDING, s.paid)
        self.publisher.flush()
        self.store.mark_published([s.paid.envelope.event_id for s in pending])
        return len(pending)
