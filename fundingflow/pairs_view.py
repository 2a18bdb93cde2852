"""The executor's pairs for ``fundingflow run``'s live view: status, size and PnL of the pairs
traded since the run started (read from the ledger; PnL valued at each leg's last fill)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from executors.ledger import Ledger
from executors.pair_store import PairStore
from executors.portfolio import PORTFOLIO_SCOPE
from executors.portfolio import Portfolio
from schemas.codec import Codec


@dataclass(frozen=True, slots=True)
class PairRow:
    signal: str
    status: str
    legs: str
    size_base: Decimal
    total_pnl_quote: Decimal
    """Exact; the table rounds to cents."""
    fees_quote: Decimal


class PairsView:
    def __init__(self, conninfo: str, codec: Codec, since_ms: int) -> None:
        self.conninfo = conninfo
        self.codec = codec
        self.since_ms = since_ms
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any] | None:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=2)
            except psycopg.Error:
                return None
        return self._conn

    def rows(self, limit: int = 8) -> tuple[list[PairRow], PairRow | None]:
        """The newest pairs traded since the run started, and the total over all of them."""
        conn = self._connection()
        if conn is None:
            return [], None
        try:
            signals = [
                str(r[0])
                for r in conn.execute(
                    "SELECT signal_id FROM orders WHERE created_ms >= %s GROUP BY signal_id"
                    " ORDER BY max(updated_ms) DESC",
                    (self.since_ms,),
                ).fetchall()
            ]
            if not signals:
                return [], None
            pairs = PairStore(conn, self.codec)
            book = Portfolio(Ledger(conn), pairs)
            book.load(published_only=False, signals=signals)
            pnl = {s.scope: s for s in book.snapshots({}, 0)}
        except psycopg.Error:
            self._conn = None
            return [], None
        out = []
        for signal in signals[:limit]:
            pair = pairs.get(signal)
            snap = pnl.get(signal)
            if pair is None or snap is None:
                continue
            legs = " / ".join(
                f"{leg.side.value.lower()} {leg.instrument.exchange}:{leg.instrument.symbol}"
                for leg in pair.legs
            )
            out.append(
                PairRow(
                    signal[:8], pair.status.value, legs, pair.target_size_base,
                    snap.total_pnl_quote, snap.fees_quote,
                )
            )  # fmt: skip
        total = pnl.get(PORTFOLIO_SCOPE)
        summary = None
        if total is not None:
            summary = PairRow(
                f"{len(signals)} pairs", "", "", Decimal(0),
                total.total_pnl_quote, total.fees_quote,
            )  # fmt: skip
        return out, summary

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
