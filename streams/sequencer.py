"""The sequencer: a native confluent-kafka loop that packs input messages into batch records.

``md.instrument`` + ``md.book`` + ``md.funding`` -> ``<app_id>-md-sequenced`` (the partition of
the base asset) and ``arb.opportunity`` + ``ops.control`` + the executor's ``exec.fill`` and
position statements (``account.position``) -> ``<app_id>-risk-sequenced`` (one partition: one
total order). Each
consumed chunk becomes, per target partition, one
:class:`~schemas.records.stream.SequencedBatch` in arrival order (at most ``batch_max``
messages), so the apply order of the stateful agents is a Kafka log the offline replay reads
back, and a Faust event carries a batch of ticks instead of one.

Values are copied byte for byte; the batch names every message's original topic, partition and
offset, so a later dead letter points at the source message. A message goes to the sequenced
partition of the partition it was read from, except an instrument fact: keyed by instrument, it
sits in whatever partition its producer chose (a keyed producer's is the key's), so it is
decoded and goes to its asset's partition (:class:`Router`). Every record of one asset then
meets in one sequenced partition, whose log alone orders them, and the offline replay (reading
the sequenced log partition by partition) applies them as the agents did.

At least once: the batches are produced and flushed (acks=all, idempotent producer: order kept
across retries) **before** the source offsets are committed, each only once every message
below it in its partition was delivered (:class:`_Pipeline`). A crash in between re-sequences
the same messages: the reducers are idempotent per record, so the state does not change, and
the replay reads the same log the agents did.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import structlog

from schemas.codec import Codec
from schemas.records.stream import SequencedBatch
from schemas.topics import ACCOUNT_POSITION
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import EXEC_FILL
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import OPS_CONTROL
from schemas.topics import STREAM_BATCH
from schemas.topics import by_name
from schemas.topics import partition_for
from schemas.topics import partition_key_for
from streams.config import LAYOUT
from streams.config import StreamsSettings

log = structlog.get_logger("streams.sequencer")


@dataclass(frozen=True, slots=True)
class Route:
    """Where the messages of one source topic go."""

    target: str
    same_partition: bool
    """The sequenced partition of the source partition (else partition 0)."""
    by_asset: bool = False
    """The sequenced partition of the record's asset (``partition_key_for``) instead, whatever
    partition the message was read from: instrument facts, keyed by instrument."""
    partitions: int = 1
    """Partitions of ``target``."""


def routes(settings: StreamsSettings) -> dict[str, Route]:
    """Physical source topic -> its sequenced topic."""
    md = Route(settings.md_sequenced, True, partitions=settings.md_partitions)
    facts = Route(
        settings.md_sequenced,
        True,
        by_asset=settings.sequencer_facts_by_asset,
        partitions=settings.md_partitions,
    )
    risk = Route(settings.risk_sequenced, False)
    return {
        settings.topic(MD_BOOK): md,
        settings.topic(MD_FUNDING): md,
        settings.topic(MD_INSTRUMENT): facts,
        settings.topic(ARB_OPPORTUNITY): risk,
        settings.topic(OPS_CONTROL): risk,
        **{settings.topic(name): risk for name in EXECUTOR_SOURCES},
    }


Slot = tuple[str, int]
"""A sequenced topic and partition."""


class Router:
    """The sequenced partition (:data:`Slot`) of each consumed message (see the module doc)."""

    def __init__(self, route_of: dict[str, Route], codec: Codec) -> None:
        self.route_of, self.codec = route_of, codec

    def slot(self, m: Any) -> Slot:
        route = self.route_of[m.topic()]
        if not route.same_partition:
            return (route.target, 0)
        if route.by_asset:
            return (route.target, self._asset_partition(m, route.partitions))
        return (route.target, m.partition())

    def _asset_partition(self, m: Any, partitions: int) -> int:
        """The partition of the record's asset; the one it was read from when it does not
        decode (the agent dead-letters it there)."""
        try:
            record = self.codec.decode(m.value() or b"")
        except Exception:
            return int(m.partition())
        return partition_for(partition_key_for(record), partitions)

    def slots_fed(self, topic: str, partition: int) -> list[Slot]:
        """Every sequenced partition messages of ``topic[partition]`` may go to."""
        route = self.route_of[topic]
        if not route.same_partition:
            return [(route.target, 0)]
        if route.by_asset:
            return [(route.target, p) for p in range(route.partitions)]
        return [(route.target, partition)]


def router(settings: StreamsSettings, codec: Codec) -> Router:
    return Router(routes(settings), codec)


EXECUTOR_SOURCES = (EXEC_FILL, ACCOUNT_POSITION)
"""The risk inputs the executor writes: its fills and its position statements."""
MERGE_RANK = (
    MD_INSTRUMENT,
    MD_FUNDING,
    MD_BOOK,
    OPS_CONTROL,
    EXEC_FILL,
    ACCOUNT_POSITION,
    ARB_OPPORTUNITY,
)
"""Tie-break of the ordered merge between source topics at the same time: an instrument's
facts before its quotes, a control command before an opportunity, a fill (a position already
taken) before a statement that includes it, and both before an opportunity."""

TopicPartitionKey = tuple[str, int]
Ends = dict[str, dict[int, int]]


def source_partitions(settings: StreamsSettings) -> dict[str, int]:
    """Physical source topic -> its partition count (the catalogue's)."""
    logical = (MD_BOOK, MD_FUNDING, MD_INSTRUMENT, ARB_OPPORTUNITY, OPS_CONTROL, *EXECUTOR_SOURCES)
    return {settings.topic(name): by_name(name).partitions for name in logical}


def read_ends(path: Path) -> Ends | None:
    """The ends file of an ordered sequencer; None while it is absent or half-written."""
    try:
        raw = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return {t: {int(p): int(o) for p, o in parts.items()} for t, parts in raw.items()}


def write_ends(path: Path, ends: Ends) -> None:
    """Write (atomically) the ends file an ordered sequencer reads."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({t: {str(p): o for p, o in ps.items()} for t, ps in ends.items()}))
    tmp.replace(path)


class OrderedMerge:
    """The ordered sequencing of a replay: per target partition, a merge of its source
    partitions by ``order_key`` (time, topic rank, partition, offset).

    A message is released only when every source partition of its target has a buffered
    message for that target or is known complete (consumed up to its end in ``ends``), so the
    order does not depend on how fetches happened to interleave the sources: two runs over the
    same input release the same sequence. Sources with no known end hold their target back
    (an instrument facts partition, which feeds every market partition, holds them all). One
    sequencer per app id (a replay's worker), reading its sources from the start."""

    def __init__(
        self,
        routing: Router,
        partitions_of: dict[str, int],
        order_key: Callable[[Any], tuple[int, ...]],
    ) -> None:
        self.routing = routing
        self.order_key = order_key
        self.slots: dict[Slot, list[TopicPartitionKey]] = {}
        for topic in sorted(routing.route_of):
            for p in range(partitions_of[topic]):
                for slot in routing.slots_fed(topic, p):
                    self.slots.setdefault(slot, []).append((topic, p))
        self.buffers: dict[tuple[TopicPartitionKey, Slot], deque[tuple[tuple[int, ...], Any]]] = {}
        """Per source partition and target: its messages not released yet, in offset order."""
        self.consumed: dict[TopicPartitionKey, int] = {}
        """Next offset of each source partition after what was consumed (buffered or not)."""
        self.ends: dict[TopicPartitionKey, int] = {}

    def set_ends(self, ends: Ends) -> None:
        for topic, parts in ends.items():
            for p, end in parts.items():
                self.ends[(topic, p)] = end

    @property
    def ends_known(self) -> bool:
        return all(s in self.ends for sources in self.slots.values() for s in sources)

    def add(self, messages: list[Any]) -> None:
        for m in messages:
            tp = (m.topic(), m.partition())
            buffer = self.buffers.setdefault((tp, self.routing.slot(m)), deque())
            buffer.append((self.order_key(m), m))
            self.consumed[tp] = m.offset() + 1

    def resume_at(self, positions: dict[TopicPartitionKey, int]) -> None:
        """Source partitions whose committed offsets start a restarted sequencer's reading:
        what is below was sequenced before, so a partition committed up to its end is
        complete although this sequencer reads nothing more of it."""
        for tp, offset in positions.items():
            if offset > self.consumed.get(tp, 0):
                self.consumed[tp] = offset

    def _complete(self, tp: TopicPartitionKey) -> bool:
        end = self.ends.get(tp)
        return end is not None and self.consumed.get(tp, 0) >= end

    def ready(self) -> list[Any]:
        """The messages releasable now, grouped by target partition, each in merge order."""
        out: list[Any] = []
        for slot in sorted(self.slots):
            sources = self.slots[slot]
            while True:
                best: deque[tuple[tuple[int, ...], Any]] | None = None
                blocked = False
                for tp in sources:
                    buffer = self.buffers.get((tp, slot))
                    if buffer:
                        if best is None or buffer[0][0] < best[0][0]:
                            best = buffer
                    elif not self._complete(tp):
                        blocked = True
                        break
                if blocked or best is None:
                    break
                out.append(best.popleft()[1])
        return out

    def held(self) -> dict[TopicPartitionKey, int]:
        """The lowest offset still buffered of each source partition (not committable)."""
        out: dict[TopicPartitionKey, int] = {}
        for (tp, _slot), buffer in self.buffers.items():
            if buffer:
                first = int(buffer[0][1].offset())
                out[tp] = min(out.get(tp, first), first)
        return out

    @property
    def pending(self) -> int:
        return sum(len(b) for b in self.buffers.values())


def merge_key_of(settings: StreamsSettings, codec: Codec) -> Callable[[Any], tuple[int, ...]]:
    """The ordered merge's key of a message: (time, topic rank, partition, offset).

    Market data keeps its recorded broker timestamp (a replay copies it), the closest thing to
    the order the live sequencer saw it in; the risk sources' time is their event time (the
    worker that re-derives ``arb.opportunity`` stamps them with the wall clock)."""
    rank = {settings.topic(name): i for i, name in enumerate(MERGE_RANK)}
    by_event_time = {
        settings.topic(ARB_OPPORTUNITY),
        settings.topic(OPS_CONTROL),
        *(settings.topic(name) for name in EXECUTOR_SOURCES),
    }

    def key(m: Any) -> tuple[int, ...]:
        topic = m.topic()
        time_ms = m.timestamp()[1]
        if topic in by_event_time:
            time_ms = _event_time_or(codec, m.value() or b"", time_ms)
        return (time_ms, rank.get(topic, len(rank)), m.partition(), m.offset())

    return key


def _event_time_or(codec: Codec, raw: bytes, fallback: int) -> int:
    """The record's event time; ``fallback`` (its broker time) when it does not decode (the
    agent then dead-letters it)."""
    try:
        return int(codec.decode(raw).envelope.event_time_ms)  # type: ignore[attr-defined]
    except Exception:
        return fallback


@dataclass(slots=True)
class BatchBuilder:
    """The columns of one batch under construction."""

    sources: list[str] = field(default_factory=list)
    source_index: list[int] = field(default_factory=list)
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)

    def add(
        self, topic: str, partition: int, offset: int, timestamp_ms: int, key: bytes, value: bytes
    ) -> None:
        try:
            index = self.sources.index(topic)
        except ValueError:
            index = len(self.sources)
            self.sources.append(topic)
        self.source_index.append(index)
        self.partitions.append(partition)
        self.offsets.append(offset)
        self.timestamps_ms.append(timestamp_ms)
        self.keys.append(key)
        self.values.append(value)

    def __len__(self) -> int:
        return len(self.values)

    def build(self) -> SequencedBatch:
        return SequencedBatch(
            sources=tuple(self.sources),
            source_index=tuple(self.source_index),
            partitions=tuple(self.partitions),
            offsets=tuple(self.offsets),
            timestamps_ms=tuple(self.timestamps_ms),
            keys=tuple(self.keys),
            values=tuple(self.values),
        )


def pack(
    messages: list[Any], routing: Router, batch_max: int
) -> list[tuple[str, int, SequencedBatch]]:
    """Consumed messages -> (target topic, target partition, batch) in production order.

    Messages of one target partition keep their arrival order across and inside batches.
    """
    open_: dict[Slot, BatchBuilder] = {}
    out: list[tuple[str, int, BatchBuilder]] = []
    for m in messages:
        slot = routing.slot(m)
        builder = open_.get(slot)
        if builder is None or len(builder) >= batch_max:
            builder = open_[slot] = BatchBuilder()
            out.append((slot[0], slot[1], builder))
        _kind, timestamp = m.timestamp()
        # A message without a value (a tombstone) travels as empty bytes: the agent then
        # dead-letters it (undecodable) instead of the sequencer failing on it forever.
        value = m.value() or b""
        builder.add(m.topic(), m.partition(), m.offset(), timestamp, m.key() or b"", value)
    return [(target, partition, b.build()) for target, partition, b in out]


Span = tuple[int, int]
"""The first offset of a source partition in a batch and the offset after its last."""


def pack_with_spans(
    messages: list[Any], routing: Router, batch_max: int
) -> list[tuple[str, int, SequencedBatch, dict[TopicPartitionKey, Span]]]:
    """:func:`pack`, with each batch's source partitions and the :data:`Span` of each in it
    (its delivery makes the span committable once nothing below it is still in flight)."""
    out = []
    for target, partition, batch in pack(messages, routing, batch_max):
        spans: dict[TopicPartitionKey, Span] = {}
        for i, offset in enumerate(batch.offsets):
            tp = (batch.sources[batch.source_index[i]], batch.partitions[i])
            first, end = spans.get(tp, (offset, offset + 1))
            spans[tp] = (min(first, offset), max(end, offset + 1))
        out.append((target, partition, batch, spans))
    return out


class Sequencer:
    """Consume the sources, produce batches, commit after the batches are acknowledged."""

    def __init__(
        self,
        settings: StreamsSettings,
        codec: Codec,
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec
        self.routing = router(settings, codec)
        self.on_batch = on_batch
        self.sequenced = 0
        """Messages sequenced (and committed) so far."""

    def _clients(self) -> tuple[Any, Any]:
        from confluent_kafka import Consumer
        from confluent_kafka import Producer

        s = self.settings
        consumer = Consumer(
            {
                "bootstrap.servers": s.bootstrap,
                "group.id": f"{s.app_id}-sequencer-{LAYOUT}",
                "enable.auto.commit": False,
                "auto.offset.reset": s.auto_offset_reset,
                "socket.nagle.disable": True,
                "fetch.wait.max.ms": s.sequencer_fetch_wait_ms,
                "session.timeout.ms": int(s.session_timeout_s * 1000),
                "partition.assignment.strategy": "cooperative-sticky",
            }
        )
        producer = Producer(
            {
                "bootstrap.servers": s.bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 0,
                "socket.nagle.disable": True,
                "compression.type": "none",
                "message.max.bytes": s.producer_max_request_size,
            }
        )
        return consumer, producer

    def run(self, stop: threading.Event) -> None:
        """Sequence until ``stop`` is set, then flush and commit what was delivered."""
        consumer, producer = self._clients()
        ends_path = self.settings.sequencer_ends_path
        merge = (
            OrderedMerge(
                self.routing,
                source_partitions(self.settings),
                merge_key_of(self.settings, self.codec),
            )
            if ends_path is not None
            else None
        )
        pipeline = _Pipeline(consumer, producer, merge.held if merge is not None else None)

        def on_revoke(_consumer: Any, _partitions: list[Any]) -> None:
            pipeline.drain()  # what was consumed from them is delivered and committed first

        def on_assign(assigned: Any, partitions: list[Any]) -> None:
            if merge is not None:  # a restart: where the committed offsets resume reading
                committed = assigned.committed(partitions, timeout=30)
                merge.resume_at({(tp.topic, tp.partition): tp.offset for tp in committed})

        consumer.subscribe(sorted(self.routing.route_of), on_assign=on_assign, on_revoke=on_revoke)
        try:
            chunk = self.settings.sequencer_chunk
            linger_s = self.settings.sequencer_linger_ms / 1000
            commit_every_s = self.settings.sequencer_commit_interval_ms / 1000
            next_commit = time.monotonic() + commit_every_s
            while not stop.is_set():
                # Block for the first message, then gather for at most the linger: a batch
                # costs the agents about the same whatever its size, so at moderate rates a
                # few milliseconds buy batches several times larger.
                first = consumer.consume(1, 0.1)
                rest = consumer.consume(chunk - 1, linger_s) if first and chunk > 1 else []
                good = _good(first + rest)
                if merge is not None and ends_path is not None:
                    merge.add(good)
                    if not merge.ends_known:
                        ends = read_ends(ends_path)
                        if ends is not None:
                            merge.set_ends(ends)
                    good = merge.ready()
                if good:
                    self._sequence(good, pipeline)
                producer.poll(0)
                pipeline.check()
                if time.monotonic() >= next_commit:
                    pipeline.commit(asynchronous=True)
                    next_commit = time.monotonic() + commit_every_s
            pipeline.drain()
        finally:
            consumer.close()

    def _sequence(self, messages: list[Any], pipeline: _Pipeline) -> None:
        """Produce the batches of ``messages``; their offsets become committable on delivery."""
        for target, partition, batch, spans in pack_with_spans(
            messages, self.routing, self.settings.sequencer_batch_max
        ):
            value = self.codec.encode(batch, STREAM_BATCH)
            pipeline.produce(target, partition, value, spans)
        self.sequenced += len(messages)
        if self.on_batch is not None:
            self.on_batch(len(messages))


class _Pipeline:
    """Batches in flight and the source offsets their delivery makes committable.

    A source offset is committable once every message of its partition below it was delivered:
    the offset after the last delivered message of the partition, but no further than the
    first offset of a batch still in flight or of a message the ordered merge still holds.
    (Most sources feed one target partition, whose batches the idempotent producer delivers in
    order; instrument facts feed every market partition, whose deliveries interleave.) Commits
    are asynchronous and periodic; a revoke or the shutdown drains (flush, then a synchronous
    commit). At least once: an offset is committed only once the batch that carries it, and
    every earlier message of its partition, is acknowledged."""

    def __init__(
        self,
        consumer: Any,
        producer: Any,
        held: Callable[[], dict[TopicPartitionKey, int]] | None = None,
    ) -> None:
        self.consumer, self.producer, self.held = consumer, producer, held
        self.inflight: dict[TopicPartitionKey, dict[int, int]] = {}
        """Per source partition: batch number -> its first offset there, until delivered."""
        self.delivered: dict[TopicPartitionKey, int] = {}
        """Per source partition: the offset after its last delivered message."""
        self.committed: dict[TopicPartitionKey, int] = {}
        self.batches = 0
        self.failures: list[str] = []

    def produce(
        self, target: str, partition: int, value: bytes, spans: dict[TopicPartitionKey, Span]
    ) -> None:
        number = self.batches
        self.batches += 1
        for tp, (first, _end) in spans.items():
            self.inflight.setdefault(tp, {})[number] = first

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                self.failures.append(str(error))
                return
            for tp, (_first, end) in spans.items():
                del self.inflight[tp][number]
                if end > self.delivered.get(tp, -1):
                    self.delivered[tp] = end

        while True:
            try:
                self.producer.produce(target, value, partition=partition, on_delivery=delivered)
                return
            except BufferError:  # the producer's queue is full: let deliveries drain it
                self.producer.poll(0.05)

    def committable(self) -> dict[TopicPartitionKey, int]:
        """The source offsets committable now and not committed yet."""
        held = self.held() if self.held is not None else {}
        out: dict[TopicPartitionKey, int] = {}
        for tp, offset in self.delivered.items():
            inflight = self.inflight.get(tp)
            if inflight:
                offset = min(offset, *inflight.values())
            if tp in held:
                offset = min(offset, held[tp])
            if offset > self.committed.get(tp, -1):
                out[tp] = offset
        return out

    def check(self) -> None:
        if self.failures:
            raise RuntimeError(f"sequenced batch not delivered: {self.failures[0]}")

    def commit(self, asynchronous: bool) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka import TopicPartition

        committable = self.committable()
        if not committable:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in committable.items()]
        self.committed.update(committable)
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as e:
            if e.args[0].code() not in _REBALANCING:
                raise
            # A rebalance took partitions away: their next owner sequences those messages
            # again (duplicates the reducers ignore); nothing is lost.
            log.info("sequencer_commit_lost_to_rebalance", error=str(e))

    def drain(self) -> None:
        if self.producer.flush(30.0) > 0:
            raise RuntimeError("sequenced batches not acknowledged within 30 s")
        self.check()
        self.commit(asynchronous=False)


def _rebalancing_codes() -> frozenset[int]:
    from confluent_kafka import KafkaError

    return frozenset(
        {
            KafkaError.ILLEGAL_GENERATION,
            KafkaError.REBALANCE_IN_PROGRESS,
            KafkaError.UNKNOWN_MEMBER_ID,
            KafkaError._ASSIGNMENT_LOST,
            KafkaError._STATE,
        }
    )


_REBALANCING = _rebalancing_codes()


def _good(messages: list[Any]) -> list[Any]:
    """The messages without errors (partition EOF is not one; others are logged)."""
    from confluent_kafka import KafkaError

    good = []
    for m in messages:
        error = m.error()
        if error is None:
            good.append(m)
        elif error.code() != KafkaError._PARTITION_EOF:
            log.warning("sequencer_consume_error", error=str(error))
    return good


def start_sequencer(settings: StreamsSettings, codec: Codec) -> tuple[threading.Thread, Any]:
    """Run a :class:`Sequencer` in a daemon thread; returns (thread, stop event).

    A failure stops the whole worker process: a worker whose sequencer died would look alive
    and apply nothing."""
    import os

    stop = threading.Event()
    sequencer = Sequencer(settings, codec)

    def main() -> None:
        try:
            sequencer.run(stop)
        except Exception as e:
            log.error("sequencer_failed", error=repr(e)[:500])
            os._exit(70)

    thread = threading.Thread(target=main, name="sequencer", daemon=True)
    thread.start()
    return thread, stop
