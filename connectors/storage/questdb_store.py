"""The QuestDB store: tables created over HTTP ``/exec`` (with their DEDUP keys), rows sent over
ILP/HTTP; a batch is durable when the sender's flushes of all its rows returned.

A batch goes out in chunks of ``chunk_rows``: while one chunk's flush waits for the server (the
client releases the GIL), the next chunk's columns are built, so the Python work and the
server's ingestion overlap instead of taking turns. A chunk flushed before a later one failed
is harmless: the batch is not committed, and its re-send is deduplicated by the tables' keys.
"""

from __future__ import annotations

import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
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


CHUNK_ROWS = 2_000
"""Rows per dataframe and flush (a 10k batch: five flushes, four of them overlapped with the
next chunk's building)."""


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
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        """``dedup`` off (only the twin test) creates the tables without DEDUP UPSERT KEYS."""
        self._chunk_rows = chunk_rows
        self._flusher: ThreadPoolExecutor | None = None
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
        self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="questdb-flush")

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
        """Each table's rows of ``batch`` as dataframes of ``chunk_rows`` (built by column,
        serialized in the client's C code), each flushed by the flush thread while the next
        is built: durable when the last flush returned."""
        sender, flusher = self._sender, self._flusher
        if sender is None or flusher is None:
            raise StoreUnavailable("QuestDB: not connected")
        by_topic: dict[str, list[Consumed]] = defaultdict(list)
        for item in batch:
            by_topic[item.topic].append(item)
        written: dict[str, int] = {}
        pending: Future[None] | None = None
        try:
            for topic, items in by_topic.items():
                table = self._tables[topic]
                name = self.table_name(table)
                symbols = list(table.symbols)
                for start in range(0, len(items), self._chunk_rows):
                    chunk = table.batch(items[start : start + self._chunk_rows])
                    buffer = sender.new_buffer()
                    buffer.dataframe(
                        dataframe(table, chunk), table_name=name, symbols=symbols, at="ts"
                    )
                    if pending is not None:
                        pending.result()
                    pending = flusher.submit(sender.flush, buffer)
                written[name] = len(items)
            if pending is not None:
                pending.result()
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
        flusher, self._flusher = self._flusher, None
        if flusher is not None:  # a flush still running (a write that failed) finishes first
            flusher.shutdown(wait=True)
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
