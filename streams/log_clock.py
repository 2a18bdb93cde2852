"""Where the recorded market log ends in event time, so a restarted sim never goes back in time.

The simulated venues run their own clock (``--speed 15x`` runs ahead of the wall clock). A
second ``fundingflow run`` on the same stack that restarted the sim at the current minute would
publish books *older* than the ones the worker already applied: the market reducer's
idempotency rule (a record not newer than the stored one changes nothing) would then drop every
record until the new sim clock caught up, and nothing would be produced for minutes.

:func:`last_event_time` reads the tail of the market topics (the last few records of every
partition, decoded with the registry) and returns the newest envelope event time;
:func:`resume_epoch` places the next sim session after it, past a gap longer than the market
reducer's ``stale_after_ms``, so what was open when the last session stopped closes as
``STALE_DATA`` instead of being carried over into a session whose accounts are flat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas.codec import Codec
from schemas.errors import InvalidEvent
from schemas.errors import StackError
from schemas.registry import ConfluentRegistry

MINUTE_MS = 60_000
TAIL_RECORDS = 16
"""Records read at the end of each partition (a dead letter or a foreign record at the very end
does not hide the newest event time)."""


def resume_epoch(last_event_ms: int | None, now_ms: int, gap_ms: int) -> int:
    """The start of the next sim session: the current minute, or the first whole minute at
    least ``gap_ms`` after the last recorded event when that is later."""
    now_minute = now_ms // MINUTE_MS * MINUTE_MS
    if last_event_ms is None:
        return now_minute
    after = -(-(last_event_ms + gap_ms) // MINUTE_MS) * MINUTE_MS
    return max(now_minute, after)


def last_event_time(
    bootstrap: str, registry_url: str, topics: Iterable[str], timeout_s: float = 10.0
) -> int | None:
    """The newest envelope event time among the last records of ``topics`` (None: all empty
    or missing)."""
    from confluent_kafka import Consumer
    from confluent_kafka import KafkaException

    codec = Codec(ConfluentRegistry(registry_url))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "fundingflow-log-clock",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    newest: int | None = None
    try:
        for topic in topics:
            try:
                meta = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            except KafkaException as exc:
                raise StackError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
            if meta is None or meta.error is not None:
                continue
            for partition in sorted(meta.partitions):
                found = _partition_tail(consumer, codec, topic, partition, timeout_s)
                if found is not None and (newest is None or found > newest):
                    newest = found
    finally:
        consumer.close()
    return newest


def _partition_tail(
    consumer: Any, codec: Codec, topic: str, partition: int, timeout_s: float
) -> int | None:
    import time

    from confluent_kafka import TopicPartition

    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
    if high <= low:
        return None
    start = max(low, high - TAIL_RECORDS)
    consumer.assign([TopicPartition(topic, partition, start)])
    newest: int | None = None
    position = start
    deadline = time.monotonic() + timeout_s
    while position < high and time.monotonic() < deadline:
        for message in consumer.consume(TAIL_RECORDS, 0.5):
            if message.error() is not None:
                continue
            position = max(position, message.offset() + 1)
            event_ms = _event_time(codec, message.value())
            if event_ms is not None and (newest is None or event_ms > newest):
                newest = event_ms
    return newest


def _event_time(codec: Codec, value: bytes | None) -> int | None:
    try:
        record = codec.decode(value or b"")
    except InvalidEvent:
        return None
    envelope = getattr(record, "envelope", None)
    return None if envelope is None else int(envelope.event_time_ms)
