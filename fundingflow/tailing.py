"""Read a topic and decode every record (a terminal Kafka UI)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from confluent_kafka import Consumer
from confluent_kafka import KafkaError

from fundingflow.errors import InvalidEvent
from fundingflow.errors import StackError
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.registry import ConfluentRegistry


def tail_topic(
    bootstrap: str,
    registry_url: str,
    topic: str,
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_timeout_s: float | None = None,
) -> Iterator[tuple[AvroRecord | InvalidEvent, dict[str, int]]]:
    """Yield (record or decode error, {partition, offset}) without joining a real group."""
    codec = Codec(ConfluentRegistry(registry_url))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fundingflow-tail-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
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
                item = codec.decode_for_topic(raw, topic)
            except InvalidEvent as exc:
                item = exc
            seen += 1
            yield item, position
    finally:
        consumer.close()
