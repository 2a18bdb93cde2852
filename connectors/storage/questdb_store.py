"""The QuestDB store: tables created over HTTP ``/exec`` (with their DEDUP keys), rows sent over
ILP/HTTP; a batch is durable when the sender's ``flush`` returned.

One flush per batch, each table's rows one dataframe: every flush is a WAL transaction per
table, and the server's cost per transaction is large (its CPU per row was 13.5 µs in
transactions of 10k rows, 9 µs in transactions of 25-50k, against the client's 4.5 µs to build
and serialize a row). Flushing chunks of a batch from a thread while the next chunk was built
overlapped the two sides but cost the server more than it saved (2,000-row chunks: 24-27 µs of
server CPU per row, fewer rows/s on the shared 2 cores).
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from questdb import QuestDBError
from questdb import QuestDBErrorCode
from questdb import Sender

from connectors.storage.stores import Consumed
from connectors.storage.stores import StoreRejected
from connectors.storage.stores import StoreUnavailable
from connectors.storage.timeseries import SERIES_BY_TOPIC
from connectors.storage.timeseries import WIRE_COLUMNS
from connectors.storage.timeseries import Frame
from connectors.storage.timeseries import SeriesTable

_REFUSALS = frozenset(
    {
        QuestDBErrorCode.ServerFlushError,
        QuestDBErrorCode.ServerRejection,
        QuestDBErrorCode.ServerSchemaMismatch,
        QuestDBErrorCode.ServerParseError,
    }
)
"""Errors that may be the server refusing the rows (a flush that never reached it has the same
code, so the server is asked whether it answers before the batch is called refused)."""


class QuestdbStore:
    """Writes event batches to QuestDB's time-series tables (names get ``table_prefix``)."""

    name = "questdb"

    def __init__(
        self,
        host: str,
        http_port: int,
        *,
        table_prefix: str = "",
        tables: Sequence[SeriesTable] | None = None,
        dedup: bool = True,
        request_timeout_s: float = 10.0,
    ) -> None:
        """``dedup`` off (only the twin test) creates the tables without DEDUP UPSERT KEYS."""
        self._host = host
        self._port = http_port
        self._prefix = table_prefix
        self._tables = {t.topic: t for t in tables} if tables is not None else SERIES_BY_TOPIC
        self._dedup = dedup
        self._timeout_s = request_timeout_s
        self._sender: Sender | None = None

    def table_name(self, table: SeriesTable) -> str:
        return f"{self._prefix}{table.name}"

    def open(self) -> None:
        self.close()
        for table in self._tables.values():
            name = self.table_name(table)
            self.execute(table.ddl(name, dedup=self._dedup))
            for column, kind in WIRE_COLUMNS if table.wire else ():  # tables made before them
                self.execute(f"ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {column} {kind}")
        timeout_ms = int(self._timeout_s * 1000)
        conf = (
            f"http::addr={self._host}:{self._port};auto_flush=off;"
            f"retry_timeout=1000;request_timeout={timeout_ms};"
        )
        try:
            sender = Sender.from_conf(conf)
            sender.establish()  # type: ignore[no-untyped-call]
        except QuestDBError as exc:
            raise StoreUnavailable(f"QuestDB ILP: {exc}") from exc
        import pandas  # noqa: F401 - imported now, not inside the first batch's write (~0.6 s)

        self._sender = sender

    def execute(self, query: str) -> dict[str, object]:
        """Run one SQL statement over HTTP ``/exec``; its JSON answer."""
        url = f"http://{self._host}:{self._port}/exec?" + urllib.parse.urlencode({"query": query})
        try:
            with urllib.request.urlopen(url, timeout=self._timeout_s) as resp:
                answer: dict[str, object] = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", errors="replace")[:300]
            if exc.code >= 500:
                raise StoreUnavailable(f"QuestDB /exec answered {exc.code}: {body}") from exc
            raise StoreRejected(f"QuestDB refused {query[:80]!r}: {body}") from exc
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"QuestDB /exec unreachable: {exc}") from exc
        return answer

    def write(self, batch: Sequence[Consumed]) -> dict[str, int]:
        """Each table's rows of ``batch`` as one dataframe (built by column, serialized in the
        client's C code), then one flush: durable when it returns."""
        sender = self._sender
        if sender is None:
            raise StoreUnavailable("QuestDB: not connected")
        by_topic: dict[str, list[Consumed]] = defaultdict(list)
        for item in batch:
            by_topic[item.topic].append(item)
        written: dict[str, int] = {}
        try:
            for topic, items in by_topic.items():
                table = self._tables[topic]
                name = self.table_name(table)
                frame = dataframe(table, table.batch(items))
                sender.dataframe(frame, table_name=name, symbols=list(table.symbols), at="ts")
                written[name] = len(items)
            sender.flush()
        except QuestDBError as exc:
            self.close()
            if exc.code in _REFUSALS and self._answers():
                raise StoreRejected(f"QuestDB refused the batch: {exc}") from exc
            raise StoreUnavailable(f"QuestDB ILP flush failed: {exc}") from exc
        return written

    def _answers(self) -> bool:
        """Whether the server answers a query now (then a refused flush was about the rows)."""
        try:
            self.execute("SELECT 1")
        except (StoreUnavailable, StoreRejected):
            return False
        return True

    def close(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(QuestDBError):
                sender.close(flush=False)


_INTEGER_KINDS = frozenset({"LONG", "INT"})


def dataframe(table: SeriesTable, frame: Frame) -> Any:
    """``frame`` as the pandas DataFrame the ILP sender takes: strings as objects, integers as
    int64 (nullable Int64 when a value is NULL), timestamps (epoch ms) as datetimes, decimals as
    Decimal objects. Columns of the table the frame lacks are left out (NULL)."""
    import pandas as pd

    data: dict[str, Any] = dict(frame.symbols)
    kinds = dict(table.all_columns)
    for name, values in frame.columns.items():
        kind = kinds[name]
        if kind in _INTEGER_KINDS:
            data[name] = _integers(values)
        elif kind == "TIMESTAMP":
            data[name] = pd.to_datetime(_integers(values), unit="ms")
        else:
            data[name] = pd.Series(values, dtype=object)
    data["ts"] = np.array(frame.event_ms, dtype="int64").astype("datetime64[ms]")
    return pd.DataFrame(data, copy=False)


def _integers(values: list[Any]) -> Any:
    """int64 values, or nullable Int64 ones when a value is None."""
    try:
        return np.array(values, dtype=np.int64)
    except TypeError:
        import pandas as pd

        return pd.array(values, dtype="Int64")
