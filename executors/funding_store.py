"""Funding settlements in PostgreSQL (migration ``0008_funding``): as paid and as expected.

One row per settlement, keyed by its event id (venue, instrument, funding time): an insert of a
settlement already stored does nothing, so a refetch or a restart never books it twice. Rows
are published to ``portfolio.funding`` once (``published``), after their commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from processors.funding_settlements import ClockMark
from processors.funding_settlements import FundingCheck
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.portfolio import FundingPaid

_SELECT = (
    "SELECT event_id, exchange, symbol, funding_time_ms, funding_rate, interval_ms, mark_price,"
    " paid_quote, paid_size_base, held_base, expected_quote, quote_currency, within_tolerance,"
    " market_type FROM funding_settlements"
)
_ORDER = " ORDER BY funding_time_ms, exchange, symbol"
_ALL = _SELECT + _ORDER
_UNPUBLISHED = _SELECT + " WHERE NOT published" + _ORDER


@dataclass(frozen=True, slots=True)
class StoredSettlement:
    """One stored settlement: the record as paid, and what was expected of it."""

    paid: FundingPaid
    held_base: Decimal
    expected_quote: Decimal
    within_tolerance: bool


def _row(r: tuple[Any, ...]) -> StoredSettlement:
    instrument = InstrumentRef(exchange=str(r[1]), symbol=str(r[2]), market_type=MarketType(r[13]))
    at = int(r[3])
    paid = FundingPaid(
        envelope=Envelope(event_id=str(r[0]), event_time_ms=at, ingest_time_ms=at),
        instrument=instrument,
        funding_rate=Decimal(r[4]),
        funding_interval_ms=int(r[5]),
        funding_time_ms=at,
        net_size_base=Decimal(r[8]),
        mark_price=Decimal(r[6]),
        amount_quote=Decimal(r[7]),
        quote_currency=str(r[11]),
    )
    return StoredSettlement(paid, Decimal(r[9]), Decimal(r[10]), bool(r[12]))


class FundingStore:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def insert(self, check: FundingCheck, *, venue_session: str, now_ms: int) -> bool:
        """Store one settlement (in the caller's transaction); False if it was stored before."""
        p, e = check.paid, check.expected
        row = self.conn.execute(
            "INSERT INTO funding_settlements (event_id, venue_session, exchange, symbol,"
            " market_type, funding_time_ms, funding_rate, interval_ms, mark_price, paid_quote,"
            " paid_size_base, held_base, expected_quote, quote_currency, within_tolerance,"
            " fetched_ms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING event_id",
            (
                p.envelope.event_id,
                venue_session,
                p.instrument.exchange,
                p.instrument.symbol,
                p.instrument.market_type.value,
                p.funding_time_ms,
                p.funding_rate,
                p.funding_interval_ms,
                p.mark_price,
                p.amount_quote,
                p.net_size_base,
                e.net_size_base,
                e.amount_quote,
                p.quote_currency,
                check.within_tolerance,
                now_ms,
            ),
        ).fetchone()
        return row is not None

    def known(self, event_ids: list[str]) -> set[str]:
        rows = self.conn.execute(
            "SELECT event_id FROM funding_settlements WHERE event_id = ANY(%s)", (event_ids,)
        ).fetchall()
        return {str(r[0]) for r in rows}

    def settlements(self, *, unpublished_only: bool = False) -> list[StoredSettlement]:
        """Stored settlements in funding-time order (per instrument: the order they apply)."""
        rows = self.conn.execute(_UNPUBLISHED if unpublished_only else _ALL).fetchall()
        return [_row(r) for r in rows]

    def mark_published(self, event_ids: list[str]) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE funding_settlements SET published = true WHERE event_id = ANY(%s)",
                (event_ids,),
            )

    def add_mark(self, venue_session: str, exchange: str, mark: ClockMark) -> None:
        with self.conn.transaction():
            self.conn.execute(
                "INSERT INTO venue_clock_marks (venue_session, exchange, local_ms, venue_ms)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (venue_session, exchange, mark.local_ms, mark.venue_ms),
            )

    def marks(self, venue_session: str, exchange: str) -> list[ClockMark]:
        rows = self.conn.execute(
            "SELECT local_ms, venue_ms FROM venue_clock_marks WHERE venue_session = %s"
            " AND exchange = %s ORDER BY local_ms",
            (venue_session, exchange),
        ).fetchall()
        return [ClockMark(int(r[0]), int(r[1])) for r in rows]

    def last_settled(self, exchange: str, symbol: str) -> int | None:
        row = self.conn.execute(
            "SELECT max(funding_time_ms) FROM funding_settlements WHERE exchange = %s"
            " AND symbol = %s",
            (exchange, symbol),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def by_instrument(self) -> list[dict[str, Any]]:
        """Expected against paid per instrument, for ``fundingflow pnl``."""
        rows = self.conn.execute(
            "SELECT exchange, symbol, quote_currency, count(*), sum(expected_quote),"
            " sum(paid_quote), count(*) FILTER (WHERE NOT within_tolerance),"
            " max(funding_time_ms) FROM funding_settlements"
            " GROUP BY exchange, symbol, quote_currency ORDER BY exchange, symbol"
        ).fetchall()
        return [
            {
                "exchange": str(r[0]),
                "symbol": str(r[1]),
                "currency": str(r[2]),
                "settlements": int(r[3]),
                "expected_quote": Decimal(r[4]),
                "paid_quote": Decimal(r[5]),
                "difference_quote": Decimal(r[5]) - Decimal(r[4]),
                "mismatches": int(r[6]),
                "last_settlement_ms": int(r[7]),
            }
            for r in rows
        ]
