"""Build the two sinks from their addresses and run them side by side until stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field

import structlog

from connectors.storage.consumption import Backoff
from connectors.storage.consumption import Guards
from connectors.storage.consumption import LoopConfig
from connectors.storage.consumption import SinkLoop
from connectors.storage.postgres_store import PostgresStore
from connectors.storage.questdb_store import QuestdbStore
from connectors.storage.relational import RELATIONAL_TOPICS
from connectors.storage.relational import TABLES
from connectors.storage.timeseries import SERIES
from connectors.storage.timeseries import SERIES_TOPICS
from schemas.codec import Codec
from schemas.registry import ConfluentRegistry

log = structlog.get_logger("connectors.storage")

SINK_NAMES = ("postgres", "questdb")


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """Where the sinks read and what they name their groups (tests set prefixes)."""

    bootstrap: str
    registry_url: str
    group_prefix: str = "fundingflow-sink"
    topic_prefix: str = ""
    topics: frozenset[str] | None = None
    """Catalogue topics to store (None: every topic of the sink)."""
    batch_max: int = 10_000
    backoff: Backoff = field(default_factory=Backoff)
    guards: Guards = field(default_factory=Guards)

    def loop_config(self, name: str, topics: Iterable[str]) -> LoopConfig:
        chosen = [t for t in topics if self.topics is None or t in self.topics]
        return LoopConfig(
            name=name,
            bootstrap=self.bootstrap,
            group_id=f"{self.group_prefix}-{name}",
            topics={f"{self.topic_prefix}{t}": t for t in chosen},
            batch_max=self.batch_max,
            backoff=self.backoff,
            guards=self.guards,
        )


def postgres_sink(
    config: SinkConfig, conninfo: str, *, options: str | None = None, skip_duplicates: bool = True
) -> SinkLoop:
    """The PostgreSQL sink (``options``: libpq options, e.g. a ``search_path``)."""
    loop = config.loop_config("postgres", RELATIONAL_TOPICS)
    tables = [t for t in TABLES if t.topic in loop.topics.values()]
    store = PostgresStore(conninfo, options=options, tables=tables, skip_duplicates=skip_duplicates)
    return SinkLoop(loop, Codec(ConfluentRegistry(config.registry_url)), store)


def questdb_sink(
    config: SinkConfig, host: str, http_port: int, *, table_prefix: str = "", dedup: bool = True
) -> SinkLoop:
    """The QuestDB sink (tables named ``<table_prefix><table>``)."""
    loop = config.loop_config("questdb", SERIES_TOPICS)
    tables = [t for t in SERIES if t.topic in loop.topics.values()]
    store = QuestdbStore(host, http_port, table_prefix=table_prefix, tables=tables, dedup=dedup)
    return SinkLoop(loop, Codec(ConfluentRegistry(config.registry_url)), store)


SINK_GC_THRESHOLD = 50_000
"""Allocations between young-generation collections in a sink process (Python's default is
700): a batch of 10k decoded records and its columns allocate ~10^5 objects, and with the
default every batch triggered hundreds of collections that re-scanned the batch (in the QuestDB
store benchmark, more than half of the time of building a batch's columns)."""


def tune_collector() -> None:
    """The sink process's garbage-collector settings (objects alive at start are frozen out of
    the collections; the young generation collects every ``SINK_GC_THRESHOLD`` allocations)."""
    import gc

    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(SINK_GC_THRESHOLD, gen1, gen2)


def run_all(loops: Sequence[SinkLoop], stop: threading.Event) -> None:
    """Run every loop in a thread of its own until ``stop`` is set or one loop fails (the
    process's collector tuned for batches first, :func:`tune_collector`)."""
    tune_collector()
    failures: list[BaseException] = []

    def drive(loop: SinkLoop) -> None:
        try:
            loop.run()
        except BaseException as exc:
            log.error("sink.failed", sink=loop.config.name, error=f"{type(exc).__name__}: {exc}")
            failures.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=drive, args=(lp,), name=f"sink-{lp.config.name}") for lp in loops
    ]
    for thread in threads:
        thread.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for loop in loops:
            loop.stop()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
