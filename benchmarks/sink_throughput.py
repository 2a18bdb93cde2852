"""Sink throughput on the stack's PostgreSQL and QuestDB: rows/s, each with a baseline.

    python -m benchmarks.sink_throughput [--rows 100000] [--batch 10000] [--only postgres|questdb]
        [--end-to-end] [--json]

Store only (the default): decoded events handed to the store in ``--batch`` batches, the way
the sink loop hands them over. PostgreSQL: COPY straight into the table, each row built as it
is streamed (target >= 80k rows/s), against the replaced path (every row of the batch built
before the COPY; the two interleaved, the faster of two runs each) and ``executemany`` of
``INSERT ... ON CONFLICT DO NOTHING`` with VALUES (the baselines). QuestDB: each batch as one
dataframe over ILP/HTTP, one flush per batch (target >= 150k rows/s), against the replaced path
(one ``sender.row`` per record) and a flush every 100 rows (the baselines). ``--end-to-end``
also runs the whole sink (Kafka consume, Avro decode, write, commit) over a scratch topic.
Scratch schemas, tables and topics are dropped afterwards. Prints figures only; nothing here
asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import threading
import time
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from connectors.storage.consumption import SinkLoop
from connectors.storage.postgres_store import PostgresStore
from connectors.storage.postgres_store import copy_rows
from connectors.storage.questdb_store import QuestdbStore
from connectors.storage.relational import BY_TOPIC
from connectors.storage.relational import EventTable
from connectors.storage.runner import SinkConfig
from connectors.storage.runner import postgres_sink
from connectors.storage.runner import questdb_sink
from connectors.storage.runner import tune_collector
from connectors.storage.stores import Consumed
from connectors.storage.timeseries import SERIES_BY_TOPIC
from fundingflow.settings import load_settings
from fundingflow.stack.manager import Stack
from fundingflow.stack.services import by_name
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.fixed_point import book_snapshot
from schemas.records.common import PriceLevel
from schemas.records.md import BookSnapshot
from schemas.records.portfolio import PnlSnapshot
from schemas.registry import InMemoryRegistry
from schemas.samples import sample
from schemas.topics import MD_BOOK
from schemas.topics import PORTFOLIO_PNL
from schemas.topics import key_for
from tests.event_stores import EventProducer
from tests.event_stores import caught_up
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.event_stores import questdb_drop
from tests.event_stores import questdb_settled
from tests.event_stores import wait_until
from tests.ledger_db import scratch_schema

TARGETS = {"postgres": 80_000.0, "questdb": 150_000.0}
T0_MS = 1_767_225_600_000


def book(levels: int = 10) -> BookSnapshot:
    """A book of ``levels`` per side in fixed-point columns, as the connectors publish one."""
    base = sample(BookSnapshot)
    bids = [
        PriceLevel(price=Decimal("65000.5") - i, size_base=Decimal("0.125")) for i in range(levels)
    ]
    asks = [
        PriceLevel(price=Decimal("65001.5") + i, size_base=Decimal("2.5")) for i in range(levels)
    ]
    return book_snapshot(
        envelope=base.envelope, instrument=base.instrument, depth=levels, bids=bids, asks=asks
    )


def consumed(record_type: type[AvroRecord], topic: str, rows: int) -> list[Consumed]:
    """``rows`` events of ``record_type`` as the sink consumes them: record, position, record
    timestamp, key and framed value (the QuestDB market tables store the last two)."""
    base: AvroRecord = book() if record_type is BookSnapshot else sample(record_type)
    codec = Codec(InMemoryRegistry())
    out = []
    for i in range(rows):
        env = base.envelope.model_copy(  # type: ignore[attr-defined]
            update={"event_id": str(uuid.uuid4()), "event_time_ms": T0_MS + i}
        )
        record = base.model_copy(update={"envelope": env})
        value = codec.encode(record, topic)
        out.append(Consumed(record, topic, i % 3, i // 3, T0_MS + i, key_for(record), value))
    return out


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else 0.0


def _batches(items: list[Consumed], batch: int) -> list[list[Consumed]]:
    return [items[i : i + batch] for i in range(0, len(items), batch)]


class MeteredStore(PostgresStore):
    """The PostgreSQL store, telling which server process serves its connection."""

    def backend_pid(self) -> int:
        assert self._conn is not None
        return self._conn.info.backend_pid


class RowsFirstStore(MeteredStore):
    """The replaced write path, for the baseline: every row of the batch built before the COPY
    starts (the server waits meanwhile), then copied."""

    def _write_table(
        self, cur: psycopg.Cursor[Any], table: EventTable, items: Sequence[Consumed]
    ) -> None:
        direct, _staged, _insert = self._statements_for(table)
        rows = [table.row(item) for item in items]
        with cur.connection.transaction():
            copy_rows(cur, direct, table, items, rows)


def _process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` of this machine used so far; None when it
    is not readable here (a database on another host)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed_store(store: MeteredStore, items: list[Consumed], batch: int) -> dict[str, float]:
    """Rows/s, and the CPU µs per row of this thread and of the server process (when local:
    CPU time, unlike rows/s, hardly moves with what else the shared cores run)."""
    store.open()
    pid = store.backend_pid()
    server_before = _process_cpu_s(pid)
    client_before = time.thread_time()
    began = time.perf_counter()
    for chunk in _batches(items, batch):
        store.write(chunk)
    elapsed = time.perf_counter() - began
    client_s = time.thread_time() - client_before
    server_after = _process_cpu_s(pid)
    store.close()
    figures = {
        "rows_per_s": _rate(len(items), elapsed),
        "client_cpu_us_per_row": client_s / len(items) * 1e6,
    }
    if server_before is not None and server_after is not None:
        figures["server_cpu_us_per_row"] = (server_after - server_before) / len(items) * 1e6
    return figures


def postgres_store_figures(rows: int, batch: int) -> dict[str, float]:
    tune_collector()  # as the sink process runs
    items = consumed(PnlSnapshot, PORTFOLIO_PNL, rows)
    table = BY_TOPIC[PORTFOLIO_PNL]
    conninfo = load_settings().postgres.conninfo()
    figures: dict[str, float] = {"postgres_rows": rows}
    with scratch_schema(conninfo) as schema:
        # interleaved, twice each, the faster run of each kept: the first run into a fresh
        # table is slower whichever path it is, and the load of the shared cores drifts
        runs = (("copy", MeteredStore), ("baseline_rows_first", RowsFirstStore)) * 2
        for label, store_type in runs:
            with schema.connect() as conn:
                conn.execute("TRUNCATE event_pnl_snapshots")
                conn.commit()
            store = store_type(conninfo, options=schema.options, tables=[table])
            run = _timed_store(store, items, batch)
            if run["rows_per_s"] > figures.get(f"postgres_{label}_rows_per_s", 0.0):
                for name, value in run.items():
                    figures[f"postgres_{label}_{name}"] = value
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
        marks = sql.SQL(", ").join(sql.Placeholder() for _ in table.column_names)
        insert = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (event_id) DO NOTHING")
        statement = insert.format(sql.Identifier("baseline_pnl"), columns, marks)
        baseline_items = consumed(PnlSnapshot, PORTFOLIO_PNL, min(rows, 20_000))
        with schema.connect() as conn:
            conn.execute("CREATE TABLE baseline_pnl (LIKE event_pnl_snapshots INCLUDING ALL)")
            conn.commit()
            began = time.perf_counter()
            with conn.cursor() as cur:
                for chunk in _batches(baseline_items, batch):
                    cur.executemany(statement, [table.row(item) for item in chunk])
                    conn.commit()
            baseline_s = time.perf_counter() - began
    figures["postgres_baseline_executemany_rows_per_s"] = _rate(len(baseline_items), baseline_s)
    figures["postgres_target_rows_per_s"] = TARGETS["postgres"]
    return figures


class RowByRowStore(QuestdbStore):
    """The replaced write path, for the baseline: one ``sender.row`` per record (its row taken
    from the same table builder), one flush per batch."""

    def write(self, batch: Sequence[Consumed]) -> dict[str, int]:
        from questdb import TimestampNanos

        sender = self._sender
        assert sender is not None
        table = SERIES_BY_TOPIC[MD_BOOK]
        frame = table.batch(batch)
        name = self.table_name(table)
        for i in range(len(frame)):
            symbols, columns, event_ms = frame.row(i)
            for column in table.timestamp_columns:
                if column in columns:
                    columns[column] = TimestampNanos(columns[column] * 1_000_000)
            sender.row(name, symbols=symbols, columns=columns, at=TimestampNanos(event_ms * 10**6))
        sender.flush()
        return {name: len(batch)}


def questdb_server_pid() -> int | None:
    """The local stack's QuestDB process (``FUNDINGFLOW_STACK__HOME`` names the stack's home
    when the benchmark runs from another checkout); None when there is none here."""
    settings = load_settings()
    return Stack(settings).files(by_name("questdb")).pid()


def questdb_store_figures(rows: int, batch: int) -> dict[str, float]:
    """Rows/s of each write path; with a local QuestDB also the CPU µs per row of this thread
    and of the server (its CPU counted until the WAL transactions are applied, which QuestDB
    does after the flush returned)."""
    tune_collector()  # as the sink process runs
    q = load_settings().questdb
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    series = SERIES_BY_TOPIC[MD_BOOK]
    figures: dict[str, float] = {"questdb_rows": rows}
    runs: tuple[tuple[str, type[QuestdbStore], int, int], ...] = (
        ("ilp", QuestdbStore, batch, rows),
        ("baseline_row_by_row", RowByRowStore, batch, rows),
        ("baseline_flush100", QuestdbStore, 100, rows // 5),
    )
    server = questdb_server_pid()
    try:
        for label, store_type, flush_every, count in runs:
            store = store_type(
                q.host, q.http_port, table_prefix=f"{prefix}{label}_", tables=[series]
            )
            items = consumed(BookSnapshot, MD_BOOK, count)
            store.open()
            server_before = None if server is None else _process_cpu_s(server)
            client_before = time.thread_time()
            began = time.perf_counter()
            for chunk in _batches(items, flush_every):
                store.write(chunk)
            figures[f"questdb_{label}_rows_per_s"] = _rate(count, time.perf_counter() - began)
            client_s = time.thread_time() - client_before
            figures[f"questdb_{label}_client_cpu_us_per_row"] = client_s / count * 1e6
            store.close()
            table = f"{prefix}{label}_{series.name}"
            wait_until(lambda: questdb_settled(q.http_url, table), 120, every_s=0.05)  # noqa: B023
            server_after = None if server is None else _process_cpu_s(server)
            if server_before is not None and server_after is not None:
                server_us = (server_after - server_before) / count * 1e6
                figures[f"questdb_{label}_server_cpu_us_per_row"] = server_us
    finally:
        for label, *_ in runs:
            questdb_drop(q.http_url, f"{prefix}{label}_{series.name}")
    figures["questdb_target_rows_per_s"] = TARGETS["questdb"]
    return figures


def end_to_end_figures(rows: int, batch: int, only: str | None) -> dict[str, float]:
    """The whole sink over a scratch topic that already holds ``rows`` events."""
    settings = load_settings()
    ns = f"bench{uuid.uuid4().hex[:8]}"
    figures: dict[str, float] = {}
    chosen = [s for s in ("postgres", "questdb") if only in (None, s)]
    topics = {"postgres": PORTFOLIO_PNL, "questdb": MD_BOOK}
    records: dict[str, type[AvroRecord]] = {"postgres": PnlSnapshot, "questdb": BookSnapshot}
    create_topics(settings.kafka.bootstrap, f"{ns}.", [topics[s] for s in chosen])
    producer = EventProducer(settings.kafka.bootstrap, settings.registry.url, f"{ns}.")
    try:
        for name in chosen:
            items = consumed(records[name], topics[name], rows)
            producer.send((topics[name], item.record) for item in items)
            config = SinkConfig(
                bootstrap=settings.kafka.bootstrap,
                registry_url=settings.registry.url,
                group_prefix=ns,
                topic_prefix=f"{ns}.",
                topics=frozenset({topics[name]}),
                batch_max=batch,
            )
            figures[f"{name}_end_to_end_rows_per_s"] = _drive(name, config, rows, ns, settings)
    finally:
        delete_topics(settings.kafka.bootstrap, f"{ns}.", [topics[s] for s in chosen])
    return figures


def _drive(name: str, config: SinkConfig, rows: int, ns: str, settings: Any) -> float:
    physical = [f"{ns}.{t}" for t in config.topics or ()]
    if name == "postgres":
        with scratch_schema(settings.postgres.conninfo()) as schema:
            loop = postgres_sink(config, settings.postgres.conninfo(), options=schema.options)
            return _timed(loop, rows, settings.kafka.bootstrap, physical)
    q = settings.questdb
    loop = questdb_sink(config, q.host, q.http_port, table_prefix=f"{ns}_")
    try:
        return _timed(loop, rows, settings.kafka.bootstrap, physical)
    finally:
        questdb_drop(q.http_url, f"{ns}_{SERIES_BY_TOPIC[MD_BOOK].name}")


def _timed(loop: SinkLoop, rows: int, bootstrap: str, physical: list[str]) -> float:
    """Rows/s from the first committed batch to the last (the group join is not counted)."""
    thread = threading.Thread(target=loop.run)
    thread.start()
    wait_until(lambda: loop.committed_events > 0, 120, every_s=0.005)
    began, first = time.perf_counter(), loop.committed_events
    wait_until(lambda: loop.committed_events >= rows, 600, every_s=0.02)
    elapsed = time.perf_counter() - began
    loop.stop()
    thread.join()
    wait_until(lambda: caught_up(bootstrap, loop.config.group_id, physical), 30)
    return _rate(rows - first, elapsed)


def lag_figures(rate: int, seconds: float, batch: int, only: str | None) -> dict[str, float]:
    """Sink lag while ``rate`` events/s arrive for ``seconds``: the sink runs first, then a paced
    producer (pre-encoded values, one produce call per record, so it costs the sink's GIL
    little); every 100 ms, lag = events produced - events the sink committed, in events and in
    seconds at that rate. p50 and max over the run, and the time to drain after the last send."""
    from confluent_kafka import Producer

    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry
    from schemas.topics import key_for

    settings = load_settings()
    ns = f"bench{uuid.uuid4().hex[:8]}"
    figures: dict[str, float] = {"lag_offered_events_per_s": rate}
    chosen = [s for s in ("postgres", "questdb") if only in (None, s)]
    topics = {"postgres": PORTFOLIO_PNL, "questdb": MD_BOOK}
    records: dict[str, type[AvroRecord]] = {"postgres": PnlSnapshot, "questdb": BookSnapshot}
    create_topics(settings.kafka.bootstrap, f"{ns}.", [topics[s] for s in chosen])
    codec = Codec(ConfluentRegistry(settings.registry.url))
    total = int(rate * seconds)
    try:
        for name in chosen:
            topic = topics[name]
            values = [
                (key_for(i.record), codec.encode(i.record, topic))
                for i in consumed(records[name], topic, total)
            ]
            config = SinkConfig(
                bootstrap=settings.kafka.bootstrap,
                registry_url=settings.registry.url,
                group_prefix=f"{ns}{name}",
                topic_prefix=f"{ns}.",
                topics=frozenset({topic}),
                batch_max=batch,
            )
            producer = Producer({"bootstrap.servers": settings.kafka.bootstrap, "linger.ms": 5})
            with contextlib.ExitStack() as stack:
                loop = _lag_loop(name, config, ns, settings, stack)
                thread = threading.Thread(target=loop.run)
                thread.start()
                producer.produce(f"{ns}.{topic}", values[0][1], values[0][0])
                producer.flush(10)
                wait_until(functools.partial(_committed_at_least, loop, 1), 120, every_s=0.01)
                lags: list[int] = []
                sent, began, next_sample = 1, time.perf_counter(), 0.0
                while sent < total:
                    now = time.perf_counter() - began
                    due = min(total, 1 + int(now * rate))
                    for key, value in values[sent:due]:
                        producer.produce(f"{ns}.{topic}", value, key)
                    sent = max(sent, due)
                    producer.poll(0)
                    if now >= next_sample:
                        lags.append(max(0, sent - loop.committed_events))
                        next_sample += 0.1
                    time.sleep(0.002)
                producer.flush(30)
                ended = time.perf_counter()
                wait_until(functools.partial(_committed_at_least, loop, total), 300, every_s=0.01)
                drain_s = time.perf_counter() - ended
                loop.stop()
                thread.join()
            lags.sort()
            figures[f"{name}_lag_p50_s"] = round(lags[len(lags) // 2] / rate, 3)
            figures[f"{name}_lag_max_s"] = round(lags[-1] / rate, 3)
            figures[f"{name}_drain_after_last_send_s"] = round(drain_s, 3)
    finally:
        delete_topics(settings.kafka.bootstrap, f"{ns}.", [topics[s] for s in chosen])
    return figures


def _committed_at_least(loop: SinkLoop, events: int) -> bool:
    return loop.committed_events >= events


def _lag_loop(
    name: str, config: SinkConfig, ns: str, settings: Any, stack: contextlib.ExitStack
) -> SinkLoop:
    if name == "postgres":
        schema = stack.enter_context(scratch_schema(settings.postgres.conninfo()))
        return postgres_sink(config, settings.postgres.conninfo(), options=schema.options)
    q = settings.questdb
    stack.callback(questdb_drop, q.http_url, f"{ns}_{SERIES_BY_TOPIC[MD_BOOK].name}")
    return questdb_sink(config, q.host, q.http_port, table_prefix=f"{ns}_")


def run(rows: int, batch: int, only: str | None, end_to_end: bool) -> dict[str, float]:
    figures: dict[str, float] = {}
    if only in (None, "postgres"):
        figures.update(postgres_store_figures(rows, batch))
    if only in (None, "questdb"):
        figures.update(questdb_store_figures(rows, batch))
    if end_to_end:
        figures.update(end_to_end_figures(rows, batch, only))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--only", choices=("postgres", "questdb"))
    parser.add_argument("--end-to-end", action="store_true")
    parser.add_argument(
        "--lag-at", type=int, metavar="RATE", help="only: sink lag at RATE events/s offered"
    )
    parser.add_argument("--lag-seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.lag_at is not None:
        tune_collector()
        figures = lag_figures(args.lag_at, args.lag_seconds, args.batch, args.only)
    else:
        figures = run(args.rows, args.batch, args.only, args.end_to_end)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return
    for name, value in figures.items():
        fractional = name.endswith(("_us_per_row", "lag_p50_s", "lag_max_s", "send_s"))
        shown = f"{value:,.2f}" if fractional else f"{value:,.0f}"
        print(f"{name:>52}: {shown}")


if __name__ == "__main__":
    main()
