"""The sink loop: consume a batch, make it durable in the store, then commit its offsets.

Guarantees (each has a fault test with a twin that disables it):

- offsets are committed only after :meth:`Store.write` returned (a crash before the commit
  re-consumes the batch; the store's idempotent writes absorb the repeat);
- a store that cannot write stops the consumption: the consumer is closed without committing,
  the sink logs why, retries opening the store with exponential backoff, and then rejoins the
  group at the last committed offsets, so nothing fetched meanwhile is lost.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import structlog
from confluent_kafka import Consumer
from confluent_kafka import KafkaError
from confluent_kafka import KafkaException
from confluent_kafka import Message
from confluent_kafka import TopicPartition

from connectors.storage import metrics
from connectors.storage.stores import Consumed
from connectors.storage.stores import Store
from connectors.storage.stores import StoreUnavailable
from schemas.codec import Codec
from schemas.errors import InvalidEvent

log = structlog.get_logger("connectors.storage")

_IGNORED_ERRORS = (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential retry delays while the store is unavailable."""

    initial_s: float = 0.5
    maximum_s: float = 10.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum_s, self.initial_s * self.factor**attempt))


@dataclass(frozen=True, slots=True)
class Guards:
    """The loop's safety guards; each is switched off only by its twin test."""

    commit_after_write: bool = True
    """Off: offsets are committed before the write (a crash in the write loses the batch)."""
    wait_for_store: bool = True
    """Off: a batch the store refuses is dropped and committed (an outage loses its events)."""


@dataclass(frozen=True, slots=True)
class LoopConfig:
    """One sink's consumer group and batching."""

    name: str
    bootstrap: str
    group_id: str
    topics: Mapping[str, str]
    """Physical topic name -> catalogue name (they differ by a test namespace prefix)."""
    batch_max: int = 10_000
    poll_timeout_s: float = 0.2
    backoff: Backoff = field(default_factory=Backoff)
    guards: Guards = field(default_factory=Guards)
    consumer_overrides: Mapping[str, Any] | None = None


class SinkLoop:
    """Drives one store from one consumer group until :meth:`stop`."""

    def __init__(self, config: LoopConfig, codec: Codec, store: Store) -> None:
        self.config = config
        self._codec = codec
        self._store = store
        self._stop = threading.Event()
        self.committed_events = 0
        self._newest_committed_ms = 0
        """Events written and committed by this loop (re-consumed ones included)."""

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Consume until stopped; returns after closing the consumer and the store."""
        name = self.config.name
        try:
            while not self._stop.is_set():
                if not self._open_store():
                    return
                metrics.STORE_UP.labels(name).set(1)
                consumer = self._consumer()
                try:
                    outcome = self._consume(consumer)
                finally:
                    consumer.close()
                if outcome is not None:
                    metrics.STORE_UP.labels(name).set(0)
                    metrics.WRITE_FAILURES.labels(name).inc()
                    log.warning(
                        "sink.store_unavailable",
                        sink=name,
                        reason=str(outcome),
                        action="stopped consuming; nothing committed; retrying",
                    )
                    self._store.close()
        finally:
            self._store.close()

    def _open_store(self) -> bool:
        """Open the store, retrying with backoff; False when stopped meanwhile."""
        attempt = 0
        while not self._stop.is_set():
            try:
                self._store.open()
            except StoreUnavailable as exc:
                delay = self.config.backoff.delay(attempt)
                metrics.STORE_UP.labels(self.config.name).set(0)
                log.warning(
                    "sink.store_unreachable",
                    sink=self.config.name,
                    reason=str(exc),
                    retry_in_s=delay,
                )
                attempt += 1
                self._report_stalled()
                self._stop.wait(delay)
                continue
            if attempt:
                log.info("sink.store_back", sink=self.config.name, attempts=attempt)
            return True
        return False

    def _consumer(self) -> Consumer:
        settings: dict[str, Any] = {
            "bootstrap.servers": self.config.bootstrap,
            "group.id": self.config.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "enable.partition.eof": False,
            "session.timeout.ms": 10_000,
            "log_level": 3,
            **(self.config.consumer_overrides or {}),
        }
        consumer = Consumer(settings)
        consumer.subscribe(list(self.config.topics))
        return consumer

    def _consume(self, consumer: Consumer) -> StoreUnavailable | None:
        """Batches until stopped (None) or until the store fails (the failure)."""
        while not self._stop.is_set():
            messages = consumer.consume(self.config.batch_max, self.config.poll_timeout_s)
            batch = self._decode(messages)
            if not messages:
                continue
            offsets = _next_offsets(messages)
            if not self.config.guards.commit_after_write:
                _commit(consumer, offsets, self.config.name)
            try:
                self._write(batch)
            except StoreUnavailable as exc:
                if self.config.guards.wait_for_store:
                    return exc
                log.error("sink.batch_dropped", sink=self.config.name, events=len(batch))
            if self.config.guards.commit_after_write:
                _commit(consumer, offsets, self.config.name)
            self.committed_events += len(batch)
            self._observe(consumer, messages, batch)
        return None

    def _decode(self, messages: Sequence[Message]) -> list[Consumed]:
        batch: list[Consumed] = []
        for message in messages:
            error = message.error()
            topic = message.topic() or ""
            if error is not None:
                if error.fatal():
                    raise KafkaException(error)
                if error.code() not in _IGNORED_ERRORS:
                    log.warning("sink.kafka_error", sink=self.config.name, error=str(error))
                continue
            logical = self.config.topics[topic]
            try:
                record = self._codec.decode_for_topic(message.value() or b"", logical)
            except InvalidEvent as exc:
                metrics.UNDECODABLE.labels(self.config.name, logical).inc()
                log.error(
                    "sink.undecodable",
                    sink=self.config.name,
                    topic=topic,
                    partition=message.partition(),
                    offset=message.offset(),
                    reason=str(exc),
                )
                continue
            _kind, timestamp_ms = message.timestamp()
            batch.append(
                Consumed(
                    record,
                    logical,
                    message.partition() or 0,
                    message.offset() or 0,
                    timestamp_ms if timestamp_ms >= 0 else None,
                    message.key(),
                    message.value() or b"",
                )
            )
        return batch

    def _write(self, batch: list[Consumed]) -> None:
        if not batch:
            return
        started = time.perf_counter()
        rows = self._store.write(batch)
        elapsed = time.perf_counter() - started
        name = self.config.name
        metrics.WRITE_SECONDS.labels(name).observe(elapsed)
        total = sum(rows.values())
        if elapsed > 0:
            metrics.WRITE_RATE.labels(name).set(total / elapsed)
        for table, count in rows.items():
            metrics.ROWS_WRITTEN.labels(name, table).inc(count)

    def _observe(
        self, consumer: Consumer, messages: Sequence[Message], batch: list[Consumed]
    ) -> None:
        name = self.config.name
        for topic, count in Counter(item.topic for item in batch).items():
            metrics.EVENTS_CONSUMED.labels(name, topic).inc(count)
        newest_ms = 0
        last: dict[tuple[str, int], int] = {}
        for message in messages:
            if message.error() is None:
                last[(message.topic() or "", message.partition() or 0)] = message.offset() or 0
                newest_ms = max(newest_ms, message.timestamp()[1])
        for (topic, partition), offset in last.items():
            try:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
            except KafkaException:
                continue
            if high >= 0:
                lag = max(0, high - offset - 1)
                metrics.LAG_RECORDS.labels(name, topic, str(partition)).set(lag)
        if newest_ms > 0:
            self._newest_committed_ms = max(self._newest_committed_ms, newest_ms)
            metrics.LAG_SECONDS.labels(name).set(max(0.0, time.time() - newest_ms / 1000))

    def _report_stalled(self) -> None:
        """While the store is down nothing is committed: the newest committed message ages."""
        if self._newest_committed_ms > 0:
            age_s = time.time() - self._newest_committed_ms / 1000
            metrics.LAG_SECONDS.labels(self.config.name).set(max(0.0, age_s))


def _next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """Per partition, the offset after the last message of the batch."""
    nexts: dict[tuple[str, int], int] = {}
    for message in messages:
        if message.error() is None:
            key = (message.topic() or "", message.partition() or 0)
            nexts[key] = max(nexts.get(key, 0), (message.offset() or 0) + 1)
    return [TopicPartition(t, p, o) for (t, p), o in nexts.items()]


def _commit(consumer: Consumer, offsets: list[TopicPartition], sink: str) -> None:
    """Commit ``offsets``; a commit the group refuses (a rebalance took partitions away) is
    logged: the batch is durable, so whoever owns the partitions now re-consumes it harmlessly."""
    if not offsets:
        return
    try:
        consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else None
        if isinstance(error, KafkaError) and error.fatal():
            raise
        log.warning("sink.commit_refused", sink=sink, reason=str(exc), partitions=len(offsets))
