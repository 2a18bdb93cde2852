"""Where the feed puts records: Kafka (through the publisher) or JSON lines on stdout."""

from __future__ import annotations

import base64
import json
import sys
from decimal import Decimal
from enum import Enum
from typing import Any
from typing import Protocol
from typing import TextIO

from connectors.publisher import KafkaPublisher
from schemas.avro_record import AvroRecord
from schemas.topics import key_for


class Sink(Protocol):
    """Accepts records for topics; ``close`` raises when anything was not delivered."""

    def start(self, topics: list[str]) -> None: ...

    def emit(self, topic: str, record: AvroRecord) -> None: ...

    def close(self) -> None: ...


class KafkaSink:
    def __init__(self, publisher: KafkaPublisher) -> None:
        self.publisher = publisher

    def start(self, topics: list[str]) -> None:
        self.publisher.register(topics)

    def emit(self, topic: str, record: AvroRecord) -> None:
        self.publisher.publish(topic, record)

    def close(self) -> None:
        self.publisher.close()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def record_json(topic: str, record: AvroRecord, *, ingest_time: bool = True) -> str:
    """One JSON line: topic, key, record type and the record (decimals as text, bytes base64)."""
    value = _plain(record.to_avro())
    if not ingest_time and isinstance(value.get("envelope"), dict):
        value["envelope"].pop("ingest_time_ms", None)
    line = {
        "topic": topic,
        "key": key_for(record).decode(),
        "type": record.AVRO_NAME,
        "value": value,
    }
    return json.dumps(line, sort_keys=True, separators=(",", ":"))


class StdoutSink:
    """JSON lines, one record per line, sorted keys (byte-comparable between runs)."""

    def __init__(self, out: TextIO | None = None, *, ingest_time: bool = True) -> None:
        self.out = out or sys.stdout
        self.ingest_time = ingest_time
        self.count = 0

    def start(self, topics: list[str]) -> None:
        del topics  # nothing to prepare

    def emit(self, topic: str, record: AvroRecord) -> None:
        self.out.write(record_json(topic, record, ingest_time=self.ingest_time) + "\n")
        self.count += 1

    def close(self) -> None:
        self.out.flush()


class MemorySink:
    """Keeps ``(topic, record)`` pairs (tests, the recorder)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, AvroRecord]] = []

    def start(self, topics: list[str]) -> None:
        del topics  # nothing to prepare

    def emit(self, topic: str, record: AvroRecord) -> None:
        self.records.append((topic, record))

    def close(self) -> None:
        return None
