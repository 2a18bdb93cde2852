"""A recorded range read back from the event stores as the messages Kafka held, for a replay
once Kafka's retention has passed.

- ``md.book``, ``md.funding``, ``md.trade``: QuestDB's market tables keep each message as
  consumed (:data:`connectors.storage.timeseries.WIRE_COLUMNS`), so the value re-published is
  the very Confluent-framed Avro value Kafka held (its schema id included), with its key. The
  level columns of ``md_books`` (five levels) are never used for this: a deeper book would not
  come back.
- Every PostgreSQL event topic (``md.instrument``, ``ops.control``, ...): the ``payload`` JSON
  back into the generated record, encoded again under the topic's registered schema (the same
  record: decimals keep their digits, enums their symbols), keyed by ``key_for``.

The range is ``[start_ms, end_ms)`` on the Kafka record timestamp, which both stores keep with
each event (a PostgreSQL row stored before migration 0010 has none: its event time stands in),
so a time range selects the same events as it does on Kafka. Each (topic, partition) comes back
in offset order, at its recorded partition and with its recorded timestamp: re-published in
that order, the namespace holds the same logs as a Kafka replay of the range would, and the
ordered sequencer merges them the same way.
"""

from __future__ import annotations

import re
from base64 import b64decode
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import TypeVar

import psycopg
from psycopg import sql

from connectors.storage.questdb_store import QuestdbStore
from connectors.storage.relational import BY_TOPIC
from connectors.storage.stores import StoreRejected
from connectors.storage.stores import StoreUnavailable
from connectors.storage.timeseries import SERIES_BY_TOPIC
from connectors.storage.timeseries import WIRE_TOPICS
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import FundingflowError
from schemas.topics import by_name
from schemas.topics import key_for

R = TypeVar("R", bound=AvroRecord)
PAGE = 50_000
"""Rows per QuestDB query (keyset pages by offset); PostgreSQL rows are fetched as read."""
CREATE_TIME = 1
"""``confluent_kafka.TIMESTAMP_CREATE_TIME``: what a consumed message's timestamp type says."""


class StoreRangeError(FundingflowError):
    """The store cannot give the range asked (nothing kept, not exactly, or unreachable)."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One stored event with the accessors of a consumed Kafka message (what the re-publish
    reads); ``topic()`` is the catalogue name."""

    name: str
    at_partition: int
    at_offset: int
    timestamp_ms: int
    raw_key: bytes | None
    raw_value: bytes

    def topic(self) -> str:
        return self.name

    def partition(self) -> int:
        return self.at_partition

    def offset(self) -> int:
        return self.at_offset

    def timestamp(self) -> tuple[int, int]:
        return CREATE_TIME, self.timestamp_ms

    def key(self) -> bytes | None:
        return self.raw_key

    def value(self) -> bytes:
        return self.raw_value

    def headers(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class StoredTopic:
    """What the store holds of one topic in the range (and in all)."""

    topic: str
    store: str
    """``questdb`` or ``postgres``."""
    table: str
    count: int
    first_ms: int | None = None
    last_ms: int | None = None
    """Record timestamps of the first and last event of the range."""


def _iso(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@dataclass(frozen=True, slots=True)
class StorePlan:
    """A range of the stores: what it holds per topic, and how to read it back."""

    reader: StoreReader
    parts: tuple[StoredTopic, ...]
    start_ms: int
    end_ms: int

    name = "store"

    @property
    def total(self) -> int:
        return sum(p.count for p in self.parts)

    @property
    def topics(self) -> list[str]:
        return sorted(p.topic for p in self.parts)

    def as_json(self) -> dict[str, Any]:
        return {
            p.topic: {
                "store": p.store,
                "table": p.table,
                "events": p.count,
                "first": _iso(p.first_ms),
                "last": _iso(p.last_ms),
            }
            for p in self.parts
        }

    def sources(self) -> dict[str, str]:
        """Topic the messages name -> catalogue topic (the same: stored under that name)."""
        return {p.topic: p.topic for p in self.parts}

    def messages(self, bootstrap: str = "") -> Iterator[StoredMessage]:  # noqa: ARG002
        """Every event of the range, topic by topic, each partition in offset order."""
        for part in self.parts:
            if part.count == 0:
                continue
            if part.store == "questdb":
                yield from self.reader.questdb_rows(part, self.start_ms, self.end_ms)
            else:
                yield from self.reader.postgres_rows(part, self.start_ms, self.end_ms)


class StoreReader:
    """Reads ranges back from QuestDB (over HTTP ``/exec``) and PostgreSQL."""

    def __init__(
        self,
        questdb: QuestdbStore,
        conninfo: str,
        codec: Codec,
        *,
        options: str | None = None,
    ) -> None:
        self._questdb = questdb
        self._conninfo = conninfo
        self._options = options
        self._codec = codec

    # ---- planning ---------------------------------------------------------------------------

    def plan(self, topics: Sequence[str], start_ms: int, end_ms: int) -> StorePlan:
        """What the stores hold of ``topics`` in ``[start_ms, end_ms)``; refuses a topic the
        stores keep no exact copy of, and rows kept without their wire bytes."""
        parts = []
        for topic in topics:
            if topic in WIRE_TOPICS:
                parts.append(self._questdb_part(topic, start_ms, end_ms))
            elif topic in BY_TOPIC:
                if len(by_name(topic).value_records) != 1:
                    raise StoreRangeError(
                        f"{topic} carries several record types: the store cannot re-create it"
                    )
                parts.append(self._postgres_part(topic, start_ms, end_ms))
            else:
                raise StoreRangeError(
                    f"the event stores keep no exact copy of {topic}: replay it from Kafka"
                )
        return StorePlan(self, tuple(parts), start_ms, end_ms)

    def _query(self, template: str, **values: str | int) -> list[list[Any]]:
        """``template`` with its ``{names}`` filled in (table names checked to be identifiers,
        numbers integers: nothing else reaches the query text)."""
        for value in values.values():
            if isinstance(value, str) and not _IDENTIFIER.fullmatch(value):
                raise StoreRangeError(f"not a QuestDB table name: {value!r}")
        try:
            answer = self._questdb.execute(template.format(**values))
        except (StoreUnavailable, StoreRejected) as exc:
            raise StoreRangeError(str(exc)) from exc
        rows: list[list[Any]] = answer.get("dataset", [])  # type: ignore[assignment]
        return rows

    def _questdb_part(self, topic: str, start_ms: int, end_ms: int) -> StoredTopic:
        name = self._questdb.table_name(SERIES_BY_TOPIC[topic])
        exists = self._query(_QDB_EXISTS, t=name)
        if not exists or not exists[0][0]:
            return StoredTopic(topic, "questdb", name, 0)
        columns = {str(r[0]) for r in self._query(_QDB_COLUMNS, t=name)}
        if "wire_value" not in columns:
            raise StoreRangeError(
                f"QuestDB table {name} keeps no wire bytes (made before they were stored): "
                "its events cannot be re-published exactly"
            )
        count, wired, first, last = self._query(_QDB_COUNT, t=name, start=start_ms, end=end_ms)[0]
        if int(wired) < int(count):
            raise StoreRangeError(
                f"{int(count) - int(wired)} of the {count} rows of {name} in the range were "
                "stored without their wire bytes: they cannot be re-published exactly"
            )
        return StoredTopic(topic, "questdb", name, int(count), first, last)

    def _connect(self) -> psycopg.Connection[Any]:
        kwargs: dict[str, Any] = {"connect_timeout": 5}
        if self._options:
            kwargs["options"] = self._options
        try:
            return psycopg.connect(self._conninfo, **kwargs)
        except psycopg.OperationalError as exc:
            raise StoreRangeError(f"PostgreSQL unreachable: {str(exc).strip()}") from exc

    def _postgres_part(self, topic: str, start_ms: int, end_ms: int) -> StoredTopic:
        table = BY_TOPIC[topic].name
        with self._connect() as conn:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                return StoredTopic(topic, "postgres", table, 0)
            row = conn.execute(
                sql.SQL("SELECT count(*), min({t}), max({t}) FROM {table} WHERE {where}").format(
                    t=_PG_TIME, table=sql.Identifier(table), where=_PG_IN_RANGE
                ),
                (start_ms, end_ms),
            ).fetchone()
        assert row is not None
        return StoredTopic(topic, "postgres", table, int(row[0]), row[1], row[2])

    # ---- reading ----------------------------------------------------------------------------

    def questdb_rows(
        self, part: StoredTopic, start_ms: int, end_ms: int
    ) -> Iterator[StoredMessage]:
        bounds: dict[str, str | int] = {"t": part.table, "start": start_ms, "end": end_ms}
        partitions = sorted(int(r[0]) for r in self._query(_QDB_PARTITIONS, **bounds))
        for p in partitions:
            last = -1
            while True:
                rows = self._query(_QDB_PAGE, **bounds, p=p, last=last, page=PAGE)
                for offset, timestamp_ms, key, value in rows:
                    yield StoredMessage(
                        part.topic,
                        p,
                        int(offset),
                        int(timestamp_ms),
                        None if key is None else b64decode(key),
                        b64decode(value),
                    )
                if len(rows) < PAGE:
                    break
                last = int(rows[-1][0])

    def postgres_rows(
        self, part: StoredTopic, start_ms: int, end_ms: int
    ) -> Iterator[StoredMessage]:
        (record_type,) = by_name(part.topic).value_records
        query = sql.SQL(
            "SELECT kafka_partition, kafka_offset, {t}, payload::text FROM {table} WHERE {where}"
            " ORDER BY kafka_partition, kafka_offset"
        ).format(t=_PG_TIME, table=sql.Identifier(part.table), where=_PG_IN_RANGE)
        with self._connect() as conn, conn.cursor(name="fundingflow_store_replay") as cur:
            cur.itersize = 5000
            cur.execute(query, (start_ms, end_ms))
            for partition, offset, timestamp_ms, payload in cur:
                record = record_of(record_type, payload)
                yield StoredMessage(
                    part.topic,
                    int(partition),
                    int(offset),
                    int(timestamp_ms),
                    key_for(record),
                    self._codec.encode(record, part.topic),
                )


def record_of(record_type: type[R], payload: str) -> R:
    """The generated record a ``payload`` column holds (``model_dump_json`` of it)."""
    return record_type.model_validate_json(payload)


# QuestDB queries (``{t}``: a table name, the rest integers; see StoreReader._query)
_QDB_EXISTS = "SELECT count() FROM tables() WHERE table_name = '{t}'"
_QDB_COLUMNS = "SELECT \"column\" FROM table_columns('{t}')"
_QDB_COUNT = (
    "SELECT count(), count(wire_value), min(kafka_timestamp_ms), max(kafka_timestamp_ms)"
    " FROM {t} WHERE kafka_timestamp_ms >= {start} AND kafka_timestamp_ms < {end}"
)
_QDB_PARTITIONS = (
    "SELECT DISTINCT kafka_partition FROM {t}"
    " WHERE kafka_timestamp_ms >= {start} AND kafka_timestamp_ms < {end}"
)
_QDB_PAGE = (
    "SELECT kafka_offset, kafka_timestamp_ms, wire_key, wire_value FROM {t}"
    " WHERE kafka_timestamp_ms >= {start} AND kafka_timestamp_ms < {end}"
    " AND kafka_partition = {p} AND kafka_offset > {last} ORDER BY kafka_offset LIMIT {page}"
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


_PG_TIME = sql.SQL("COALESCE(kafka_timestamp_ms, event_time_ms)")
"""A row's record timestamp (its event time when stored before migration 0010)."""
_PG_IN_RANGE = sql.SQL("{t} >= %s AND {t} < %s").format(t=_PG_TIME)
