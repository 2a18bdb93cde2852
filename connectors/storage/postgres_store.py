"""The PostgreSQL store: each batch in one transaction, each table's rows by COPY.

A batch of events not seen before is copied straight into its table (under a savepoint); a
batch holding an event id the table already has (a re-consume after a crash, a replay) is
copied into a session staging table instead and moved over with ``INSERT ... ON CONFLICT
(event_id) DO NOTHING``, so no event is ever stored twice."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from connectors.storage.relational import BY_TOPIC
from connectors.storage.relational import EventTable
from connectors.storage.stores import Consumed
from connectors.storage.stores import StoreRejected
from connectors.storage.stores import StoreUnavailable

_TRANSIENT = (psycopg.OperationalError,)
"""Connection lost or refused, server shutting down: retried, never committed."""


def staging_name(table: EventTable) -> str:
    return f"staging_{table.name}"


class PostgresStore:
    """Writes event batches to the tables of migration 0005 in the connection's search path."""

    name = "postgres"

    def __init__(
        self,
        conninfo: str,
        *,
        options: str | None = None,
        tables: Sequence[EventTable] | None = None,
        skip_duplicates: bool = True,
        connect_timeout_s: int = 5,
    ) -> None:
        """``skip_duplicates`` off (only the twin test) inserts without ON CONFLICT."""
        self._conninfo = conninfo
        self._options = options
        self._tables = {t.topic: t for t in tables} if tables is not None else BY_TOPIC
        self._skip_duplicates = skip_duplicates
        self._connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None
        self._statements: dict[str, tuple[sql.Composed, sql.Composed, sql.Composed]] = {}

    def open(self) -> None:
        self.close()
        kwargs: dict[str, Any] = {
            "connect_timeout": self._connect_timeout_s,
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 2,
            "keepalives_count": 3,
        }
        if self._options:
            kwargs["options"] = self._options
        try:
            conn = psycopg.connect(self._conninfo, **kwargs)
            missing = [
                t.name
                for t in self._tables.values()
                if conn.execute("SELECT to_regclass(%s)", (t.name,)).fetchone() == (None,)
            ]
            if missing:
                conn.close()
                raise StoreRejected(
                    f"PostgreSQL has no table {', '.join(missing)}: run `fundingflow db migrate`"
                )
            for table in self._tables.values():
                conn.execute(
                    sql.SQL(
                        "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS)"
                        " ON COMMIT DELETE ROWS"
                    ).format(sql.Identifier(staging_name(table)), sql.Identifier(table.name))
                )
            conn.commit()
        except _TRANSIENT as exc:
            raise StoreUnavailable(f"PostgreSQL: {_first_line(exc)}") from exc
        self._conn = conn

    def write(self, batch: Sequence[Consumed]) -> dict[str, int]:
        if self._conn is None:
            raise StoreUnavailable("PostgreSQL: not connected")
        by_table: dict[str, list[Consumed]] = defaultdict(list)
        for item in batch:
            by_table[item.topic].append(item)
        written: dict[str, int] = {}
        conn = self._conn
        try:
            with conn.cursor() as cur:
                for topic, items in by_table.items():
                    table = self._tables[topic]
                    self._write_table(cur, table, items)
                    written[table.name] = len(items)
            conn.commit()
        except _TRANSIENT as exc:
            self.close()
            raise StoreUnavailable(f"PostgreSQL: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            conn.rollback()
            raise StoreRejected(f"PostgreSQL refused the batch: {_first_line(exc)}") from exc
        return written

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _write_table(
        self, cur: psycopg.Cursor[Any], table: EventTable, items: Sequence[Consumed]
    ) -> None:
        """COPY straight into the table under a savepoint (the common case: no event seen
        before); when an event id is already there, COPY into the staging table and move the
        new rows over with ON CONFLICT (event_id) DO NOTHING instead."""
        direct, staged, insert = self._statements_for(table)
        rows: list[tuple[Any, ...]] = []
        if self._skip_duplicates:
            try:
                with cur.connection.transaction():
                    copy_rows(cur, direct, table, items, rows)
                return
            except psycopg.errors.UniqueViolation:
                pass
            copy_rows(cur, staged, table, items, rows)
            cur.execute(insert)
            return
        copy_rows(cur, direct, table, items, rows)

    def _statements_for(self, table: EventTable) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
        cached = self._statements.get(table.name)
        if cached is not None:
            return cached
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
        target = sql.Identifier(table.name)
        staging = sql.Identifier(staging_name(table))
        direct = sql.SQL("COPY {} ({}) FROM STDIN").format(target, columns)
        staged = sql.SQL("COPY {} ({}) FROM STDIN").format(staging, columns)
        insert = sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (event_id) DO NOTHING"
        ).format(target, columns, columns, staging)
        self._statements[table.name] = (direct, staged, insert)
        return direct, staged, insert


def copy_rows(
    cur: psycopg.Cursor[Any],
    statement: sql.Composed,
    table: EventTable,
    items: Sequence[Consumed],
    rows: list[tuple[Any, ...]],
) -> None:
    """COPY the rows of ``items``. Each row is built as it is streamed (libpq sends every
    ~32 kB while the next rows are built, so the server parses them meanwhile: building the
    whole list first left the server idle for a third of the batch) and kept in ``rows``,
    which a retry into the staging table then copies without building them again (a COPY the
    server refused half way left the first rows there; the rest are built now)."""
    with cur.copy(statement) as copy:
        write_row = copy.write_row
        for row in rows:
            write_row(row)
        build, keep = table.row, rows.append
        for item in items[len(rows) :]:
            row = build(item)
            keep(row)
            write_row(row)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
