"""The executor's pairs on PostgreSQL (migration ``0006_execution``).

A pair is stored as its latest :class:`~schemas.records.execution.PairUpdate`, Confluent-framed
Avro under the ``exec.pair`` subject (so it evolves with the schema, never pickled), plus the
columns a query needs; every change is also a ``pair_transitions`` row, the outbox the executor
publishes to ``exec.pair`` from. Writes take the caller's connection and join its transaction,
so a pair change and the order intents it causes commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from processors.pairs import TERMINAL
from schemas.codec import Codec
from schemas.records.execution import PairUpdate
from schemas.topics import EXEC_PAIR

_TERMINAL = [s.value for s in TERMINAL]
_INSERT_TRANSITION = (
    "INSERT INTO pair_transitions (signal_id, seq, status, detail, at_ms, state)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


def _transition_row(pair: PairUpdate, state: bytes) -> tuple[Any, ...]:
    return (
        pair.signal_id,
        pair.seq,
        pair.status.value,
        pair.detail,
        pair.envelope.event_time_ms,
        state,
    )


def _returned(cur: psycopg.Cursor[Any]) -> set[str]:
    """The first column of every result of an ``executemany(..., returning=True)``."""
    out: set[str] = set()
    while True:
        out.update(str(row[0]) for row in cur.fetchall())
        if not cur.nextset():
            return out


def _returned_count(cur: psycopg.Cursor[Any]) -> int:
    """How many rows the statements of an ``executemany(..., returning=True)`` returned."""
    count = 0
    while True:
        count += len(cur.fetchall())
        if not cur.nextset():
            return count


class PairStore:
    def __init__(self, conn: psycopg.Connection[Any], codec: Codec) -> None:
        self.conn = conn
        self.codec = codec

    def _encode(self, pair: PairUpdate) -> bytes:
        return self.codec.encode(pair, EXEC_PAIR)

    def _decode(self, data: bytes) -> PairUpdate:
        return self.codec.decode_as(bytes(data), PairUpdate)

    def insert(self, pair: PairUpdate, *, venue_session: str) -> bool:
        """Store a new pair (seq 0); False when the signal already has one (a redelivery)."""
        state = self._encode(pair)
        row = self.conn.execute(
            "INSERT INTO pairs (signal_id, opportunity_id, status, seq, target_size_base, detail,"
            " created_ms, updated_ms, state, venue_session)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (signal_id) DO NOTHING RETURNING signal_id",
            (
                pair.signal_id,
                pair.opportunity_id,
                pair.status.value,
                pair.seq,
                pair.target_size_base,
                pair.detail,
                pair.envelope.event_time_ms,
                pair.envelope.event_time_ms,
                state,
                venue_session,
            ),
        ).fetchone()
        if row is None:
            return False
        self._transition(pair, state)
        return True

    def insert_many(self, pairs: Sequence[PairUpdate], *, venue_session: str) -> set[str]:
        """Store new pairs (seq 0) in the caller's transaction, in one batch; the signal ids
        stored (a signal that already has a pair is left out: a redelivery)."""
        if not pairs:
            return set()
        states = {pair.signal_id: self._encode(pair) for pair in pairs}
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO pairs (signal_id, opportunity_id, status, seq, target_size_base,"
                " detail, created_ms, updated_ms, state, venue_session)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (signal_id) DO NOTHING RETURNING signal_id",
                [
                    (
                        p.signal_id, p.opportunity_id, p.status.value, p.seq,
                        p.target_size_base, p.detail, p.envelope.event_time_ms,
                        p.envelope.event_time_ms, states[p.signal_id], venue_session,
                    )
                    for p in pairs
                ],
                returning=True,
            )  # fmt: skip
            inserted = _returned(cur)
            cur.executemany(
                _INSERT_TRANSITION,
                [_transition_row(p, states[p.signal_id]) for p in pairs if p.signal_id in inserted],
            )
        return inserted

    def update_many(self, pairs: Sequence[PairUpdate]) -> None:
        """Store the pairs' next changes in the caller's transaction, in one batch (each seq
        must follow the stored one, else nothing of the transaction is stored)."""
        if not pairs:
            return
        states = [self._encode(pair) for pair in pairs]
        with self.conn.cursor() as cur:
            cur.executemany(
                "UPDATE pairs SET status = %s, seq = %s, detail = %s, updated_ms = %s, state = %s"
                " WHERE signal_id = %s AND seq = %s RETURNING signal_id",
                [
                    (
                        p.status.value, p.seq, p.detail, p.envelope.event_time_ms, state,
                        p.signal_id, p.seq - 1,
                    )
                    for p, state in zip(pairs, states, strict=True)
                ],
                returning=True,
            )  # fmt: skip
            updated = _returned_count(cur)
            cur.executemany(_INSERT_TRANSITION, list(map(_transition_row, pairs, states)))
        if updated != len(pairs):
            raise RuntimeError(
                f"pairs {sorted({p.signal_id for p in pairs})[:5]}: a seq does not follow the"
                " stored one"
            )

    def update(self, pair: PairUpdate) -> None:
        """Store the pair's next change (its seq must follow the stored one)."""
        state = self._encode(pair)
        updated = self.conn.execute(
            "UPDATE pairs SET status = %s, seq = %s, detail = %s, updated_ms = %s, state = %s"
            " WHERE signal_id = %s AND seq = %s",
            (
                pair.status.value,
                pair.seq,
                pair.detail,
                pair.envelope.event_time_ms,
                state,
                pair.signal_id,
                pair.seq - 1,
            ),
        ).rowcount
        if updated != 1:
            raise RuntimeError(f"pair {pair.signal_id}: seq {pair.seq} does not follow the stored")
        self._transition(pair, state)

    def _transition(self, pair: PairUpdate, state: bytes) -> None:
        self.conn.execute(_INSERT_TRANSITION, _transition_row(pair, state))

    def request_close(self, opportunity_id: str, reason: str) -> list[str]:
        """Mark the opportunity's pairs to close; the signal ids marked."""
        rows = self.conn.execute(
            "UPDATE pairs SET close_requested = %s WHERE opportunity_id = %s"
            " AND close_requested IS NULL AND NOT (status = ANY(%s)) RETURNING signal_id",
            (reason, opportunity_id, _TERMINAL),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def existing(self, signal_ids: list[str]) -> set[str]:
        """Those of ``signal_ids`` that already have a pair."""
        rows = self.conn.execute(
            "SELECT signal_id FROM pairs WHERE signal_id = ANY(%s)", (signal_ids,)
        ).fetchall()
        return {str(r[0]) for r in rows}

    def close_reasons(self, signal_ids: list[str]) -> dict[str, str]:
        """Signal id -> close reason, for those of ``signal_ids`` asked to close."""
        rows = self.conn.execute(
            "SELECT signal_id, close_requested FROM pairs WHERE signal_id = ANY(%s)"
            " AND close_requested IS NOT NULL",
            (signal_ids,),
        ).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    def get_many(self, signal_ids: list[str]) -> dict[str, PairUpdate]:
        """The stored pairs of ``signal_ids`` (absent ones left out), in one query."""
        if not signal_ids:
            return {}
        rows = self.conn.execute(
            "SELECT signal_id, state FROM pairs WHERE signal_id = ANY(%s)", (signal_ids,)
        ).fetchall()
        return {str(r[0]): self._decode(r[1]) for r in rows}

    def get(self, signal_id: str) -> PairUpdate | None:
        row = self.conn.execute(
            "SELECT state FROM pairs WHERE signal_id = %s", (signal_id,)
        ).fetchone()
        return None if row is None else self._decode(row[0])

    def active(self, venue_session: str | None = None) -> list[PairUpdate]:
        """Pairs with work to do (of one venue session, or all), oldest first: not terminal,
        and not hedged and waiting for their opportunity to close."""
        sql = (
            "SELECT state FROM pairs WHERE NOT (status = ANY(%s))"
            " AND NOT (status = 'HEDGED' AND close_requested IS NULL)"
        )
        params: list[Any] = [_TERMINAL]
        if venue_session is not None:
            sql += " AND venue_session = %s"
            params.append(venue_session)
        rows = self.conn.execute(sql + " ORDER BY created_ms, signal_id", params).fetchall()
        return [self._decode(r[0]) for r in rows]

    def unpublished(self, limit: int = 1000) -> list[tuple[str, int, bytes]]:
        """The changes not yet published, oldest first, each as its stored ``exec.pair`` wire
        bytes (what the outbox sends as they are)."""
        rows = self.conn.execute(
            "SELECT signal_id, seq, state FROM pair_transitions WHERE NOT published"
            " ORDER BY at_ms, signal_id, seq LIMIT %s",
            (limit,),
        ).fetchall()
        return [(str(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    def mark_published(self, keys: list[tuple[str, int]]) -> None:
        if keys:
            self.conn.execute(
                "UPDATE pair_transitions SET published = true"
                " WHERE (signal_id, seq) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
                ([k[0] for k in keys], [k[1] for k in keys]),
            )
