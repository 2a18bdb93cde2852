"""Replay: re-publish a recorded range into an isolated namespace and run the agents over it.

1. :func:`plan_range` maps the bounds to offsets per partition (watermarks and
   ``offsets_for_times``); nothing is written. Any other :class:`ReplaySource` can stand in
   for the Kafka range (the event stores' copy, ``connectors.storage.store_range``, once
   retention has passed: :func:`kafka_gap` says when).
2. :func:`create_namespace` creates every catalogue topic as ``<namespace>.<topic>`` (same
   partitions; no retention and no compaction: a replay's copy keeps its recorded timestamps,
   which a time-based retention would delete at once) after checking no topic or consumer group
   of the namespace exists.
3. A worker of the namespace (:meth:`StreamsSettings.in_namespace`: app id, topic prefix,
   internal topics and groups all under it) starts, with the ordered sequencer
   (:class:`streams.sequencer.OrderedMerge`), while :func:`republish` copies every message
   byte for byte, with its key, partition, timestamp and headers, in partition order (paced by
   event time, or as fast as possible).
4. :class:`ReplayRun` waits phase by phase: the market inputs sequenced and applied; then the
   ends of the re-derived ``arb.opportunity`` are final and handed to the sequencer, which
   merges the risk inputs in event-time order; then those applied. The worker stops and writes
   its final digest (and the offline replay of its sequenced log, :mod:`streams.digest`, is
   computed to compare).

Same range -> same sequenced order -> same state digest, the same opportunities and decisions.
"""

from __future__ import annotations

import heapq
import subprocess
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Protocol

import structlog

from schemas.codec import Codec
from schemas.errors import FundingflowError
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import CATALOGUE
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION
from streams.config import LAYOUT
from streams.config import StreamsSettings
from streams.digest import digest_at_cut
from streams.digest import read_digest
from streams.digest import replay_settings
from streams.replay_range import Bound
from streams.replay_range import ReplayInputError
from streams.replay_range import partition_range
from streams.sequencer import EXECUTOR_SOURCES
from streams.sequencer import Ends
from streams.sequencer import write_ends
from streams.worker import start_worker

Progress = Callable[[str, int, int], None]
"""(stage, done, total): ``republish`` then ``apply``."""
TIMEOUT_S = 15.0


log = structlog.get_logger("streams.replay")


class ReplayError(FundingflowError):
    """The replay could not complete (the worker died or stalled)."""


@dataclass(frozen=True, slots=True)
class PartitionRange:
    topic: str
    """Catalogue name."""
    source: str
    """Physical name of the recorded topic (the deployment's topic prefix + the name)."""
    partition: int
    first: int
    stop: int

    @property
    def count(self) -> int:
        return self.stop - self.first


class ReplaySource(Protocol):
    """Where a replay reads its messages: a Kafka range (:class:`ReplayPlan`) or a store's."""

    @property
    def name(self) -> str:
        """``kafka`` or ``store``."""
        ...

    @property
    def total(self) -> int: ...

    @property
    def topics(self) -> list[str]: ...

    def as_json(self) -> Any: ...

    def sources(self) -> dict[str, str]:
        """The topic name each message carries -> its catalogue topic."""
        ...

    def messages(self, bootstrap: str) -> Iterator[Any]:
        """The messages (with a consumed Kafka message's accessors), each partition in
        offset order."""
        ...


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    parts: tuple[PartitionRange, ...]

    @property
    def name(self) -> str:
        return "kafka"

    def sources(self) -> dict[str, str]:
        return {p.source: p.topic for p in self.parts}

    def messages(self, bootstrap: str) -> Iterator[Any]:
        return read_range(bootstrap, self)

    @property
    def total(self) -> int:
        return sum(p.count for p in self.parts)

    @property
    def topics(self) -> list[str]:
        return sorted({p.topic for p in self.parts})

    def as_json(self) -> dict[str, dict[str, list[int]]]:
        out: dict[str, dict[str, list[int]]] = {}
        for p in self.parts:
            out.setdefault(p.topic, {})[str(p.partition)] = [p.first, p.stop]
        return out


def _consumer(bootstrap: str, group: str) -> Any:
    from confluent_kafka import Consumer

    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "socket.nagle.disable": True,
            "log_level": 0,
        }
    )


def plan_range(
    bootstrap: str,
    topics: list[str],
    start: Bound,
    end: Bound,
    *,
    explicit: bool,
    source_prefix: str = "",
) -> ReplayPlan:
    """Offsets [first, stop) per partition of ``source_prefix + topic`` for each catalogue
    topic (read-only). A topic absent from the broker is an error when the user named it
    (``explicit``), skipped for the defaults."""
    from confluent_kafka import KafkaException
    from confluent_kafka import TopicPartition

    consumer = _consumer(bootstrap, "fundingflow-replay-plan")
    try:
        try:
            present = consumer.list_topics(timeout=TIMEOUT_S).topics
        except KafkaException as exc:
            raise ReplayError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
        parts: list[PartitionRange] = []
        seen: set[int] = set()
        for logical in topics:
            topic = source_prefix + logical
            meta = present.get(topic)
            if meta is None or meta.error is not None:
                if explicit:
                    raise ReplayInputError(f"topic {topic} does not exist on the broker")
                continue
            partitions = sorted(meta.partitions)
            seen.update(partitions)
            at = {
                which: _offsets_at(consumer, topic, partitions, bound.time_ms)
                for which, bound in (("start", start), ("end", end))
                if bound.kind == "time"
            }
            for p in partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=TIMEOUT_S
                )
                first, stop = partition_range(
                    start, end, p, low, high, at.get("start", {}).get(p), at.get("end", {}).get(p)
                )
                parts.append(PartitionRange(logical, topic, p, first, stop))
    finally:
        consumer.close()
    for bound in (start, end):
        unknown = sorted(set(bound.partitions) - seen)
        if unknown and seen:
            raise ReplayInputError(
                f"{bound.describe()} names partition {unknown[0]}, which none of "
                f"{', '.join(topics)} has (partitions 0..{max(seen)})"
            )
    return ReplayPlan(tuple(parts))


def kafka_gap(
    bootstrap: str, topics: list[str], start: Bound, *, explicit: bool, source_prefix: str = ""
) -> str | None:
    """Why Kafka may no longer hold all of a range starting at ``start`` (None: it does).

    A partition still holds the range when nothing of it was ever deleted (its low watermark
    is 0) or when its oldest kept message is older than the start. Offset bounds are Kafka's
    own (None). A topic absent from the broker is a gap when the user named it."""
    from confluent_kafka import KafkaException
    from confluent_kafka import TopicPartition

    if start.kind != "time":
        return None
    consumer = _consumer(bootstrap, "fundingflow-replay-plan")
    try:
        try:
            present = consumer.list_topics(timeout=TIMEOUT_S).topics
        except KafkaException as exc:
            raise ReplayError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
        for logical in topics:
            topic = source_prefix + logical
            meta = present.get(topic)
            if meta is None or meta.error is not None:
                if explicit:
                    return f"{topic} is not on the broker"
                continue
            for p in sorted(meta.partitions):
                tp = TopicPartition(topic, p)
                low, high = consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S)
                if low == 0:
                    continue
                oldest = _timestamp_at(consumer, topic, p, low) if high > low else None
                if oldest is None or oldest > start.time_ms:
                    return (
                        f"{topic} partition {p} no longer holds offsets below {low} "
                        f"(retention), and the range starts before what it kept"
                    )
    finally:
        consumer.close()
    return None


def _timestamp_at(consumer: Any, topic: str, partition: int, offset: int) -> int | None:
    """The record timestamp of the message at ``offset`` (None: it cannot be read)."""
    from confluent_kafka import TopicPartition

    consumer.assign([TopicPartition(topic, partition, offset)])
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            for m in consumer.consume(1, 0.5):
                if m.error() is None:
                    return int(m.timestamp()[1])
        return None
    finally:
        consumer.unassign()


def _offsets_at(consumer: Any, topic: str, partitions: list[int], time_ms: int) -> dict[int, int]:
    from confluent_kafka import TopicPartition

    asked = [TopicPartition(topic, p, time_ms) for p in partitions]
    return {tp.partition: tp.offset for tp in consumer.offsets_for_times(asked, timeout=TIMEOUT_S)}


# ---- namespace --------------------------------------------------------------------------------


def namespace_in_use(bootstrap: str, namespace: str) -> list[str]:
    """Topics and consumer groups already under ``<namespace>.``."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    prefix = f"{namespace}."
    topics = [t for t in admin.list_topics(timeout=TIMEOUT_S).topics if t.startswith(prefix)]
    listed = admin.list_consumer_groups(request_timeout=TIMEOUT_S).result()
    groups = [g.group_id for g in listed.valid if g.group_id.startswith(prefix)]
    return sorted(topics) + [f"group {g}" for g in sorted(groups)]


def create_namespace(
    bootstrap: str, namespace: str, settings: StreamsSettings, replication_factor: int = 1
) -> list[str]:
    """Create ``settings.topic(name)`` (``<namespace>.`` + name) for every catalogue topic (same
    partitions, kept forever, never compacted); refuses a namespace that already has topics or
    consumer groups."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin import NewTopic

    used = namespace_in_use(bootstrap, namespace)
    if used:
        shown = ", ".join(used[:5]) + (f" and {len(used) - 5} more" if len(used) > 5 else "")
        raise ReplayInputError(
            f"namespace {namespace!r} is in use ({shown}); replay into a new namespace"
        )
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    config = {"cleanup.policy": "delete", "retention.ms": "-1"}
    wanted = [
        NewTopic(settings.topic(s.name), s.partitions, replication_factor, config=config)
        for s in CATALOGUE
    ]
    for name, future in admin.create_topics(wanted, operation_timeout=TIMEOUT_S).items():
        try:
            future.result(timeout=TIMEOUT_S)
        except Exception as exc:
            raise ReplayError(f"cannot create topic {name}: {exc}") from exc
    deadline = time.monotonic() + TIMEOUT_S
    names = {t.topic for t in wanted}
    while not names <= set(admin.list_topics(timeout=TIMEOUT_S).topics):
        if time.monotonic() > deadline:
            raise ReplayError(f"topics of namespace {namespace} not ready")
        time.sleep(0.1)
    return sorted(names)


# ---- re-publish -------------------------------------------------------------------------------


def read_range(bootstrap: str, plan: ReplayPlan, idle_timeout_s: float = 30.0) -> Iterator[Any]:
    """Every message of the plan, each partition in offset order (partitions interleaved)."""
    from confluent_kafka import TopicPartition

    todo = {(p.source, p.partition): p.stop for p in plan.parts if p.count > 0}
    if not todo:
        return
    consumer = _consumer(bootstrap, "fundingflow-replay-read")
    try:
        consumer.incremental_assign(
            [TopicPartition(p.source, p.partition, p.first) for p in plan.parts if p.count > 0]
        )
        last_progress = time.monotonic()
        while todo:
            messages = consumer.consume(10_000, 0.5)
            if not messages and time.monotonic() - last_progress > idle_timeout_s:
                raise ReplayError(f"reading the range stalled; still to read: {sorted(todo)[:5]}")
            for m in messages:
                if m.error() is not None:
                    continue
                tp = (m.topic(), m.partition())
                stop = todo.get(tp)
                if stop is None:
                    continue
                last_progress = time.monotonic()
                if m.offset() < stop:
                    yield m
                if m.offset() + 1 >= stop:
                    del todo[tp]
                    consumer.incremental_unassign([TopicPartition(tp[0], tp[1])])
    finally:
        consumer.close()


def paced(messages: Iterator[Any], speed: float, codec: Codec) -> Iterator[Any]:
    """The messages merged across partitions by event time (each partition's order kept),
    released at ``speed`` times the pace their event times say."""
    per_partition: dict[tuple[str, int], list[tuple[int, int, Any]]] = {}
    for m in messages:
        per_partition.setdefault((m.topic(), m.partition()), []).append(
            (_event_time(m, codec), m.offset(), m)
        )
    merged = heapq.merge(*per_partition.values(), key=lambda item: item[0])
    started = time.monotonic()
    first: int | None = None
    for event_ms, _offset, m in merged:
        first = event_ms if first is None else first
        due = started + (event_ms - first) / 1000 / speed
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        yield m


def _event_time(m: Any, codec: Codec) -> int:
    try:
        return int(codec.decode(m.value() or b"").envelope.event_time_ms)  # type: ignore[attr-defined]
    except Exception:  # not a record with an envelope: its broker timestamp
        return int(m.timestamp()[1])


def republish(
    bootstrap: str,
    messages: Iterator[Any],
    targets: dict[str, str],
    progress: Progress | None = None,
    total: int = 0,
) -> dict[tuple[str, int], int]:
    """Produce each message to ``targets[its topic]``, same partition, key, value, timestamp
    and headers (idempotent producer: each partition's order kept). Returns the count per
    target partition; raises if any message stays undelivered."""
    from confluent_kafka import Producer

    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "compression.type": "none",
            "socket.nagle.disable": True,
            "queue.buffering.max.messages": 500_000,
            # a report per failed message only: a Python callback per delivered one cost
            # about 40 % of the re-publish's CPU
            "delivery.report.only.error": True,
            "on_delivery": delivered,
            "log_level": 0,
        }
    )
    produce = producer.produce
    counts: dict[tuple[str, int], int] = {}
    done = 0
    for m in messages:
        target = targets[m.topic()]
        partition = m.partition()
        timestamp = m.timestamp()[1]
        while True:
            try:
                produce(
                    target,
                    m.value(),
                    m.key(),
                    partition,
                    timestamp=timestamp if timestamp > 0 else 0,
                    headers=m.headers(),
                )
                break
            except BufferError:
                producer.poll(0.05)
        key = (target, partition)
        counts[key] = counts.get(key, 0) + 1
        done += 1
        if done % 10_000 == 0:
            producer.poll(0)
            if progress is not None:
                progress("republish", done, total)
    if producer.flush(60.0) > 0:
        raise ReplayError("re-published messages not acknowledged within 60 s")
    if failures:
        raise ReplayError(f"re-publish failed: {failures[0]}")
    if progress is not None:
        progress("republish", done, total)
    return counts


# ---- the run ----------------------------------------------------------------------------------


@dataclass
class ReplayResult:
    namespace: str
    app_id: str
    plan: ReplaySource
    republished: int = 0
    republish_s: float = 0.0
    """Reading the range and producing it, until the last message was acknowledged."""
    agents_s: float = 0.0
    """From the start of the re-publish until the agents applied everything."""
    elapsed_s: float = 0.0
    cut: dict[str, dict[int, int]] = field(default_factory=dict)
    digest: str | None = None
    offline_digest: str | None = None
    opportunities: int = 0
    decisions: int = 0
    worker_restarts: int = 0

    @property
    def republish_rate(self) -> float:
        return self.republished / self.republish_s if self.republish_s > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "app_id": self.app_id,
            "source": self.plan.name,
            "range": self.plan.as_json(),
            "republished": self.republished,
            "republish_s": round(self.republish_s, 3),
            "republish_events_per_s": round(self.republish_rate, 1),
            "agents_s": round(self.agents_s, 3),
            "elapsed_s": round(self.elapsed_s, 3),
            "opportunities": self.opportunities,
            "decisions": self.decisions,
            "worker_restarts": self.worker_restarts,
            "cut": {t: {str(p): o for p, o in ps.items()} for t, ps in self.cut.items()},
            "digest": self.digest,
            "offline_digest": self.offline_digest,
        }


def replay_worker_settings(base: StreamsSettings, namespace: str, workdir: Path) -> StreamsSettings:
    """The worker of a replay: the namespace's app id and topics, ordered sequencing, its own
    digest file, no web view."""
    return base.in_namespace(namespace).model_copy(
        update={
            "digest_path": workdir / "digest.json",
            "digest_interval_s": 0.3,
            "sequencer_ends_path": workdir / "sequencer-ends.json",
            "web_port": None,
        }
    )


MAX_WORKER_RESTARTS = 3
"""A replay's worker that dies is restarted this many times at most."""


class ReplayRun:
    """One replay (see the module doc); :meth:`run` returns its :class:`ReplayResult`."""

    def __init__(
        self,
        base: StreamsSettings,
        namespace: str,
        plan: ReplaySource,
        workdir: Path,
        *,
        speed: float | None = None,
        offline_check: bool = False,
        replication_factor: int = 1,
        progress: Progress | None = None,
        timeout_s: float = 900.0,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.settings = replay_worker_settings(base, namespace, workdir)
        self.namespace, self.plan, self.workdir = namespace, plan, workdir
        self.speed, self.offline_check = speed, offline_check
        self.replication_factor = replication_factor
        self.progress = progress
        self.timeout_s = timeout_s
        self.worker: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        """Workers restarted after they died (see :meth:`_check_alive`)."""
        self._probe: Any = None
        self._groups: Any = None
        self._agents: Any = None

    @property
    def log_path(self) -> Path:
        return self.workdir / "worker.log"

    def run(self) -> ReplayResult:
        started = time.monotonic()
        s = self.settings
        result = ReplayResult(self.namespace, s.app_id, self.plan)
        create_namespace(s.bootstrap, self.namespace, s, self.replication_factor)
        self.deadline = time.monotonic() + self.timeout_s
        self._start_worker()
        try:
            t0 = time.monotonic()
            messages = self.plan.messages(s.bootstrap)
            if self.speed is not None:
                messages = paced(messages, self.speed, Codec(ConfluentRegistry(s.registry_url)))
            targets = {name: s.topic(topic) for name, topic in self.plan.sources().items()}
            counts = republish(s.bootstrap, messages, targets, self.progress, self.plan.total)
            result.republish_s = time.monotonic() - t0
            result.republished = sum(counts.values())
            self._wait_for_agents()
            document = self._settled_document()
            result.agents_s = time.monotonic() - t0
        finally:
            self._stop_worker()
        try:
            return self._finish(result, document, started)
        finally:
            for client in (self._probe, self._groups, self._agents):
                if client is not None:
                    client.close()

    def _finish(
        self, result: ReplayResult, document: dict[str, Any], started: float
    ) -> ReplayResult:
        s = self.settings
        result.cut, result.digest = document["cut"], str(document["digest"])
        result.opportunities = sum(self._highs(s.topic(ARB_OPPORTUNITY)).values())
        result.decisions = sum(self._highs(s.topic(RISK_DECISION)).values())
        if self.offline_check:
            settings = replay_settings(s, document)
            result.offline_digest = digest_at_cut(s.bootstrap, s.registry_url, result.cut, settings)
        result.elapsed_s = time.monotonic() - started
        result.worker_restarts = self.restarts
        return result

    # ---- phases -------------------------------------------------------------------------------

    def _wait_for_agents(self) -> None:
        s = self.settings
        md = [s.topic(t) for t in (MD_BOOK, MD_FUNDING, MD_INSTRUMENT)]
        executor = [s.topic(t) for t in EXECUTOR_SOURCES]
        ends: Ends = {t: self._highs(t) for t in [*md, s.topic(OPS_CONTROL), *executor]}
        assert s.sequencer_ends_path is not None
        write_ends(s.sequencer_ends_path, ends)
        # the risk sources (ops.control, exec.fill, account.position) merge with
        # arb.opportunity, whose end is known only once the market inputs are applied: wait
        # for the market inputs alone
        self._wait_sequenced({t: ends[t] for t in md})
        md_sequenced = _nonzero(self._highs(s.md_sequenced))
        self._wait_applied(s.md_sequenced, md_sequenced)
        ends[s.topic(ARB_OPPORTUNITY)] = self._highs(s.topic(ARB_OPPORTUNITY))
        write_ends(s.sequencer_ends_path, ends)
        self._wait_sequenced(ends)
        self._wait_applied(s.risk_sequenced, _nonzero(self._highs(s.risk_sequenced)))

    def _settled_document(self) -> dict[str, Any]:
        """The worker's periodic digest once its cut is the sequenced topics' ends and two
        writes in a row agree (everything below the ends is applied by then, see
        :meth:`_wait_applied`), read while the worker still runs."""
        path = self.settings.digest_path
        assert path is not None
        last: dict[str, Any] | None = None
        s = self.settings
        wanted = {t: _nonzero(self._highs(t)) for t in (s.md_sequenced, s.risk_sequenced)}
        wanted = {t: e for t, e in wanted.items() if e}
        while True:
            document = read_digest(path)
            if document is not None and document == last and document["cut"] == wanted:
                return document
            last = document
            self._check_alive("settling the digest")
            time.sleep(self.settings.digest_interval_s)

    def _wait_sequenced(self, ends: Ends) -> None:
        """Until the sequencer committed every source partition up to its end."""
        from confluent_kafka import TopicPartition

        wanted = [TopicPartition(t, p) for t, parts in ends.items() for p in parts]
        total = sum(sum(parts.values()) for parts in ends.values())
        while True:
            done = 0
            for tp in self._group_client().committed(wanted, timeout=TIMEOUT_S):
                done += min(max(tp.offset, 0), ends[tp.topic][tp.partition])
            if self.progress is not None:
                self.progress("apply", done, total)
            if done >= total:
                return
            self._check_alive(f"sequencing ({done} of {total} inputs)")

    def _wait_applied(self, topic: str, ends: dict[int, int]) -> None:
        """Until the agents committed sequenced ``topic`` up to ``ends``: Faust commits an
        offset only once its event was processed and every send it made acknowledged, so the
        outputs (``arb.opportunity``, ``risk.decision``) are complete up to there. (The digest's
        cut is not this signal: for a partition nothing was processed on yet, it holds the
        consumer's fetch position.)"""
        from confluent_kafka import TopicPartition

        if self._agents is None:
            self._agents = _consumer(self.settings.bootstrap, self.settings.app_id)
        wanted = [TopicPartition(topic, p) for p in sorted(ends)]
        while True:
            committed = self._agents.committed(wanted, timeout=TIMEOUT_S)
            if all(tp.offset >= ends[tp.partition] for tp in committed):
                return
            self._check_alive(f"applying {topic}")

    def _start_worker(self) -> None:
        self.worker = start_worker(self.settings, self.log_path)
        (self.workdir / "worker.pid").write_text(f"{self.worker.pid}\n")

    def _check_alive(self, stage: str) -> None:
        """Raise once the deadline passed; restart a worker that died (it resumes from its
        committed offsets and changelogs, so the replay's result is the same), at most
        ``MAX_WORKER_RESTARTS`` times."""
        if self.worker is not None and self.worker.poll() is not None:
            code = self.worker.returncode
            if self.restarts >= MAX_WORKER_RESTARTS:
                raise ReplayError(
                    f"the worker exited ({code}) while {stage}, {self.restarts} restarts"
                    f" already; log:\n{self._log_tail()}"
                )
            self.restarts += 1
            log.warning("replay_worker_restarted", exit_code=code, stage=stage)
            self._start_worker()
        if time.monotonic() > self.deadline:
            raise ReplayError(f"timed out while {stage}; log:\n{self._log_tail()}")
        time.sleep(0.2)

    def _stop_worker(self) -> None:
        worker = self.worker
        if worker is None or worker.poll() is not None:
            return
        worker.terminate()  # graceful: the worker writes its final digest on shutdown
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)

    def _group_client(self) -> Any:
        if self._groups is None:
            self._groups = _consumer(
                self.settings.bootstrap, f"{self.settings.app_id}-sequencer-{LAYOUT}"
            )
        return self._groups

    def _highs(self, topic: str) -> dict[int, int]:
        """High watermark of every partition of ``topic`` (the catalogue's or the broker's)."""
        from confluent_kafka import TopicPartition

        if self._probe is None:
            self._probe = _consumer(self.settings.bootstrap, f"{self.namespace}.replay-probe")
        meta = self._probe.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
        if meta is None or meta.error is not None:
            return {}
        out = {}
        for p in sorted(meta.partitions):
            out[p] = _high_watermark(self._probe, TopicPartition(topic, p))
        return out

    def _log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""


def _nonzero(ends: dict[int, int]) -> dict[int, int]:
    return {p: e for p, e in ends.items() if e > 0}


def parse_speed(text: str) -> float | None:
    """``1x``, ``10x``, ``0.5x`` -> the factor; ``max`` -> None (as fast as possible)."""
    value = text.strip().lower()
    if value == "max":
        return None
    try:
        factor = float(value.removesuffix("x"))
    except ValueError:
        factor = 0.0
    if not value.endswith("x") or factor <= 0:
        raise ReplayInputError(f"--speed {text!r}: use Nx (e.g. 1x, 10x) or max")
    return factor


def _high_watermark(consumer: Any, tp: Any, wait_s: float = 20.0) -> int:
    """The partition's high watermark; what a partition created a moment ago (the namespace's
    topics) answers until its leader is elected is asked again, not an error."""
    from confluent_kafka import KafkaError
    from confluent_kafka import KafkaException

    no_leader_yet = {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
    deadline = time.monotonic() + wait_s
    while True:
        try:
            _low, high = consumer.get_watermark_offsets(tp, timeout=TIMEOUT_S)
            return int(high)
        except KafkaException as exc:
            if exc.args[0].code() not in no_leader_yet or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
