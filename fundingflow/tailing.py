"""Read a topic and decode every record (a terminal Kafka UI)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import OFFSET_BEGINNING
from confluent_kafka import OFFSET_END
from confluent_kafka import Consumer
from confluent_kafka import KafkaError
from confluent_kafka import KafkaException
from confluent_kafka import TopicPartition

from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import InvalidEvent
from schemas.errors import StackError
from schemas.registry import ConfluentRegistry


def tail_topic(
    bootstrap: str,
    registry_url: str,
    topic: str,
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_timeout_s: float | None = None,
    namespace: str | None = None,
) -> Iterator[tuple[AvroRecord | InvalidEvent, dict[str, int]]]:
    """Yield (record or decode error, {partition, offset}); assigns partitions, joins no group.
    ``topic`` is the catalogue name (it picks the reader); with a ``namespace`` the records are
    read from ``NAMESPACE.topic``."""
    logical = topic
    topic = logical if namespace is None else f"{namespace}.{logical}"
    codec = Codec(ConfluentRegistry(registry_url))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fundingflow-tail-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
    except KafkaException as exc:
        consumer.close()
        raise StackError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    partitions = meta.topics[topic].partitions if topic in meta.topics else {}
    if not partitions:
        consumer.close()
        raise StackError(f"topic {topic} does not exist; run `fundingflow topics create`")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(partitions)])
    seen = 0
    last_activity = time.monotonic()
    try:
        while limit is None or seen < limit:
            message = consumer.poll(0.5)
            if message is None:
                if idle_timeout_s is not None and time.monotonic() - last_activity > idle_timeout_s:
                    return
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    continue
                raise StackError(f"reading {topic} failed: {error}")
            last_activity = time.monotonic()
            position = {"partition": message.partition() or 0, "offset": message.offset() or 0}
            raw = message.value() or b""
            item: AvroRecord | InvalidEvent
            try:
                item = codec.decode_for_topic(raw, logical)
            except InvalidEvent as exc:
                item = exc
            seen += 1
            yield item, position
    finally:
        consumer.close()
