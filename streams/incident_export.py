"""Export an incident bundle from Kafka: every message of a time window, and what was in force.

For each topic and partition, ``offsets_for_times`` finds the first offset at or after the
window's start and the first at or after its end; the messages between them whose timestamp is
in the window are taken. Two topics are read from their beginning instead, because their past is
state the window's events are judged against:

- ``md.instrument`` (compacted): the latest facts of each instrument stamped before the window,
  even long before it, then every change inside it;
- ``ops.control``: every command before the window's end (kill switch, limits in force).

Each message is decoded with the project's codec (an undecodable one is counted and left out)
and kept as its raw datum of the writer schema it was written with.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import fastavro

from schemas.codec import HEADER_SIZE
from schemas.codec import Codec
from schemas.errors import InvalidEvent
from schemas.records.stream import SequencedBatch
from schemas.registry import SchemaRegistry
from schemas.subjects import subject_schema
from schemas.topics import CATALOGUE
from schemas.topics import MD_INSTRUMENT
from schemas.topics import OPS_CONTROL
from schemas.topics import by_name
from streams.bundle import Bundle
from streams.bundle import BundleError
from streams.bundle import Message
from streams.bundle import Window

FROM_BEGINNING = frozenset({MD_INSTRUMENT, OPS_CONTROL})
"""Topics whose messages before the window are state in force."""

LATEST = -1
"""The ListOffsets timestamp that asks for the end of the log."""

DEFAULT_TOPICS: tuple[str, ...] = tuple(spec.name for spec in CATALOGUE)


def physical(namespace: str, topic: str) -> str:
    """The broker's name of catalogue ``topic`` in ``namespace`` (``""``: the live topics)."""
    return f"{namespace}.{topic}" if namespace else topic


def check_topics(topics: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(topics))
    if not chosen:
        raise BundleError("no topics chosen")
    catalogue = set(DEFAULT_TOPICS)
    unknown = [t for t in chosen if t not in catalogue]
    if unknown:
        raise BundleError(
            f"unknown topic {', '.join(unknown)}; catalogue topics: {', '.join(DEFAULT_TOPICS)}"
        )
    return chosen


class _Decoder:
    """Raw wire bytes to a bundle :class:`Message`: validated by the codec, kept as written."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self.codec = Codec(registry)
        self.writers: dict[int, str] = {}
        self._parsed: dict[int, tuple[Any, bool]] = {}

    def message(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int,
        key: bytes | None,
        raw: bytes,
    ) -> Message:
        self.codec.decode_for_topic(raw, topic)  # raises InvalidEvent on anything bad
        schema_id = int.from_bytes(raw[1:HEADER_SIZE], "big")
        parsed, union = self._parsed.get(schema_id) or self._writer(schema_id, topic)
        buffer = io.BytesIO(raw)
        buffer.seek(HEADER_SIZE)
        datum = fastavro.schemaless_reader(
            buffer, parsed, None, return_record_name=union, return_record_name_override=union
        )
        return Message(topic, partition, offset, timestamp_ms, key, schema_id, datum)

    def _writer(self, schema_id: int, topic: str) -> tuple[Any, bool]:
        text = self.registry.schema_by_id(schema_id)
        self.writers[schema_id] = text
        union = isinstance(subject_schema(by_name(topic)), list)
        entry = (fastavro.parse_schema(json.loads(text)), union)
        self._parsed[schema_id] = entry
        return entry


def _read_range(
    consumer: Any, name: str, partition: int, begin: int, stop: int, timeout_s: float
) -> list[Any]:
    """Messages of one partition with ``begin <= offset < stop`` (gaps of compaction allowed;
    ``begin`` may be ``OFFSET_BEGINNING``)."""
    from confluent_kafka import TopicPartition

    if stop <= max(begin, 0):
        return []
    consumer.assign([TopicPartition(name, partition, begin)])
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    position = max(begin, 0)
    while True:
        # Ask for no more than is left, so the last call returns without waiting its timeout.
        for message in consumer.consume(max(1, min(1000, stop - position)), 0.5):
            if message.error() is not None:
                continue
            if message.offset() < stop:
                out.append(message)
        position = consumer.position([TopicPartition(name, partition)])[0].offset
        if position >= stop:
            return out
        if time.monotonic() > deadline:
            raise BundleError(f"{name}[{partition}]: read to offset {position} of {stop}")


def export_window(
    bootstrap: str,
    registry: SchemaRegistry,
    window: Window,
    topics: Iterable[str] = DEFAULT_TOPICS,
    namespace: str = "",
    timeout_s: float = 60.0,
    created_ms: int | None = None,
    skip_absent: bool = False,
    sequenced: Mapping[str, str] | None = None,
) -> Bundle:
    """Read the window (and the state in force) from Kafka into a :class:`Bundle`; a topic the
    broker does not have is an error, or with ``skip_absent`` an empty topic noted as absent.

    ``sequenced`` names the worker's sequenced topics (``market``, ``risk``): the order they
    list the bundled messages in is kept as the bundle's apply order (a missing topic is noted
    and leaves that order to the timestamps)."""
    from confluent_kafka import OFFSET_BEGINNING
    from confluent_kafka import Consumer
    from confluent_kafka import KafkaException

    chosen = check_topics(topics)
    decoder = _Decoder(registry)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fundingflow-incident-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "socket.nagle.disable": True,
            "log_level": 0,
        }
    )
    bundle = Bundle(
        window,
        chosen,
        created_ms if created_ms is not None else int(time.time() * 1000),
        notes={"namespace": namespace} if namespace else {},
    )
    undecodable: dict[str, int] = {}
    in_force: dict[str, int] = {}
    try:
        try:
            metadata = consumer.list_topics(timeout=15)
        except KafkaException as e:
            raise BundleError(f"cannot reach Kafka at {bootstrap}: {e}") from None
        names = {topic: physical(namespace, topic) for topic in chosen}
        partitions, absent = _partitions(metadata, names, skip_absent)
        if absent:
            bundle.notes["absent"] = absent
            names = {t: n for t, n in names.items() if t not in absent}
        if not names:
            raise BundleError(f"none of the topics exists on the broker ({namespace or 'live'})")
        starts, ends, latest = _window_offsets(consumer, names, partitions, window)
        for topic, name in names.items():
            ranges = []
            for p in partitions[topic]:
                start, end = starts[name, p], ends[name, p]
                if end < 0:  # nothing at or after the window's end: read to the end
                    end = latest[name, p]
                begin = OFFSET_BEGINNING if topic in FROM_BEGINNING else start
                if begin != OFFSET_BEGINNING and begin < 0:  # nothing at or after the start
                    continue
                ranges.append((p, begin, end))
            bundle.messages[topic] = _export_topic(
                consumer, decoder, topic, name, ranges, window, timeout_s, in_force, undecodable
            )
        _orders(consumer, decoder.codec, metadata, sequenced or {}, namespace, window, bundle)
    finally:
        consumer.close()
    bundle.writer_schemas = dict(decoder.writers)
    if in_force:
        bundle.notes["in_force"] = in_force
    if undecodable:
        bundle.notes["undecodable"] = undecodable
    return bundle


def _orders(
    consumer: Any,
    codec: Codec,
    metadata: Any,
    sequenced: Mapping[str, str],
    namespace: str,
    window: Window,
    bundle: Bundle,
) -> None:
    for kind, name in sequenced.items():
        if name not in metadata.topics:
            bundle.notes.setdefault("unsequenced", []).append(name)
            continue
        order = _sequenced_order(consumer, codec, name, namespace, window, bundle)
        if order:
            bundle.order[kind] = order


def _sequenced_order(
    consumer: Any, codec: Codec, name: str, namespace: str, window: Window, bundle: Bundle
) -> list[tuple[str, int, int]]:
    """The bundled messages in the order the sequenced topic ``name`` lists them (first
    occurrence; a batch re-sequenced after a crash lists its messages again)."""
    from confluent_kafka import TopicPartition

    prefix = f"{namespace}." if namespace else ""
    known = {(m.topic, m.partition, m.offset) for ms in bundle.messages.values() for m in ms}
    metadata = consumer.list_topics(name, timeout=15).topics[name]
    partitions = sorted(metadata.partitions)
    # Every batch holding a message of the window was produced after it: at or after the start.
    starts = consumer.offsets_for_times(
        [TopicPartition(name, p, window.start_ms) for p in partitions], timeout=15
    )
    ends = consumer.offsets_for_times(
        [TopicPartition(name, p, LATEST) for p in partitions], timeout=15
    )
    seen: dict[tuple[str, int, int], None] = {}
    for p, start, end in zip(partitions, starts, ends, strict=True):
        if start.offset < 0:
            continue
        for m in _read_range(consumer, name, p, start.offset, end.offset, 60.0):
            try:
                batch = codec.decode_as(m.value(), SequencedBatch)
            except InvalidEvent:
                continue
            for i, source in enumerate(batch.source_index):
                topic = batch.sources[source].removeprefix(prefix)
                position = (topic, batch.partitions[i], batch.offsets[i])
                if position in known:
                    seen.setdefault(position, None)
    return list(seen)


def _partitions(
    metadata: Any, names: dict[str, str], skip_absent: bool
) -> tuple[dict[str, list[int]], list[str]]:
    """The partitions of each topic, and the topics the broker does not have (when skipped)."""
    partitions: dict[str, list[int]] = {}
    absent = []
    for topic, name in names.items():
        found = metadata.topics.get(name)
        if found is None or found.error is not None:
            if not skip_absent:
                raise BundleError(f"topic {name} does not exist on the broker")
            absent.append(topic)
            continue
        partitions[topic] = sorted(found.partitions)
    return partitions, absent


def _window_offsets(
    consumer: Any, names: dict[str, str], partitions: dict[str, list[int]], window: Window
) -> tuple[dict[tuple[str, int], int], ...]:
    """Per (topic name, partition): the first offset at or after the window's start and end
    (-1: none) and the end of the log, each asked for every partition in one request."""
    from confluent_kafka import TopicPartition

    def at(ms: int) -> dict[tuple[str, int], int]:
        asked = [TopicPartition(names[t], p, ms) for t in names for p in partitions[t]]
        found = consumer.offsets_for_times(asked, timeout=15)
        return {(tp.topic, tp.partition): tp.offset for tp in found}

    return at(window.start_ms), at(window.end_ms), at(LATEST)


def _export_topic(
    consumer: Any,
    decoder: _Decoder,
    topic: str,
    name: str,
    ranges: list[tuple[int, int, int]],
    window: Window,
    timeout_s: float,
    in_force: dict[str, int],
    undecodable: dict[str, int],
) -> list[Message]:
    kept: list[Message] = []
    before: dict[bytes | None, Message] = {}
    for p, begin, stop in ranges:
        for m in _read_range(consumer, name, p, begin, stop, timeout_s):
            ts = m.timestamp()[1]
            if ts >= window.end_ms or (ts < window.start_ms and topic not in FROM_BEGINNING):
                continue
            try:
                message = decoder.message(topic, p, m.offset(), ts, m.key(), m.value())
            except (InvalidEvent, ValueError, TypeError, EOFError):
                undecodable[topic] = undecodable.get(topic, 0) + 1
                continue
            if ts < window.start_ms and topic == MD_INSTRUMENT:
                before[message.key] = message  # the latest of each instrument
            else:
                if ts < window.start_ms:
                    in_force[topic] = in_force.get(topic, 0) + 1
                kept.append(message)
    if before:
        in_force[topic] = len(before)
    return sorted([*before.values(), *kept], key=lambda m: (m.partition, m.offset))
