"""An isolated pipeline on a real broker: prefixed topics, a worker child, publish and collect.

Used by the integration tests and the pipeline benchmark; every run gets its own app id and
topic prefix, so nothing is shared with a live pipeline or another test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError

from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import delete_topics
from benchmarks.isolation import publish_records
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.registry import ConfluentRegistry
from schemas.topics import ACCOUNT_POSITION
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import ARB_SPREAD
from schemas.topics import DLQ_ARB
from schemas.topics import DLQ_MD
from schemas.topics import DLQ_OPS
from schemas.topics import DLQ_RISK
from schemas.topics import EXEC_FILL
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION
from streams.config import StreamsSettings
from streams.digest import read_digest
from streams.internal_topics import internal_topics
from streams.worker import start_worker

PIPELINE_TOPICS = (
    MD_BOOK,
    MD_FUNDING,
    ARB_SPREAD,
    ARB_OPPORTUNITY,
    RISK_DECISION,
    OPS_CONTROL,
    DLQ_MD,
    DLQ_ARB,
    DLQ_OPS,
    DLQ_RISK,
    EXEC_FILL,
    ACCOUNT_POSITION,
)


_NO_LEADER_YET = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)
"""What a topic created a moment ago answers while its partitions get their leader."""


class Pipeline:
    """``with Pipeline(bootstrap, registry_url, **settings) as p: p.start(); p.publish(...)``."""

    def __init__(self, bootstrap: str, registry_url: str, **settings: Any) -> None:
        uid = uuid.uuid4().hex[:10]
        self.workdir = Path(tempfile.mkdtemp(prefix=f"ff-streams-{uid}-"))
        self.prefix = f"t{uid}."
        defaults: dict[str, Any] = {
            "app_id": f"fundingflow-test-{uid}",
            "bootstrap": bootstrap,
            "registry_url": registry_url,
            "topic_prefix": self.prefix,
            "digest_path": self.workdir / "digest.json",
            "digest_interval_s": 0.5,
            "log_level": "INFO",
        }
        self.settings = StreamsSettings.model_validate({**defaults, **settings})
        self.codec = Codec(ConfluentRegistry(registry_url))
        self.bootstrap = bootstrap
        self.worker: subprocess.Popen[bytes] | None = None
        self._consumer: Any = None
        self._created: list[str] = []

    def __enter__(self) -> Pipeline:
        self._created = create_prefixed_topics(self.bootstrap, self.prefix, PIPELINE_TOPICS)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._consumer is not None:
            self._consumer.close()
        internal = [t.name for t in internal_topics(self.settings)]
        delete_topics(self.bootstrap, self._created + internal)

    # ---- worker -------------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.workdir / "worker.log"

    def start(self) -> None:
        self.worker = start_worker(self.settings, self.log_path)

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            try:
                self.worker.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(5)
        self.worker = None

    def crash(self) -> None:
        """SIGKILL the worker: no flush, no commit, no goodbye."""
        if self.worker is not None:
            os.kill(self.worker.pid, signal.SIGKILL)
            self.worker.wait(10)
            self.worker = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    # ---- data ---------------------------------------------------------------------------------

    def publish(self, items: Iterable[tuple[str, AvroRecord]]) -> int:
        return publish_records(self.bootstrap, self.codec, items, self.prefix)

    def publish_raw(self, logical: str, value: bytes, key: bytes) -> None:
        from confluent_kafka import Producer

        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0})
        producer.produce(self.prefix + logical, value, key)
        producer.flush(10)

    def collect(
        self,
        logical: Iterable[str],
        until: Callable[[list[tuple[str, AvroRecord]]], bool],
        timeout_s: float = 30.0,
    ) -> list[tuple[str, AvroRecord]]:
        """Read output topics from the start until ``until(all seen so far)`` or timeout."""
        from confluent_kafka import Consumer

        if self._consumer is None:
            self._consumer = Consumer(
                {
                    "bootstrap.servers": self.bootstrap,
                    "group.id": f"{self.settings.app_id}-probe",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                    "socket.nagle.disable": True,
                }
            )
            self.seen: list[tuple[str, AvroRecord]] = []
            self._consumer.subscribe([self.prefix + t for t in PIPELINE_TOPICS[2:]])
        wanted = {self.prefix + t for t in logical}
        deadline = time.monotonic() + timeout_s
        while not until([s for s in self.seen if self.prefix + s[0] in wanted]):
            if time.monotonic() > deadline:
                break
            for message in self._consumer.consume(500, 0.2):
                if message.error() is not None:
                    continue
                topic = message.topic().removeprefix(self.prefix)
                self.seen.append((topic, self.codec.decode(message.value())))
        return [s for s in self.seen if self.prefix + s[0] in wanted]

    # ---- digest -------------------------------------------------------------------------------

    def end_offsets(self, topic: str) -> dict[int, int]:
        """High watermarks of ``topic``'s partitions; {} while a new topic has no leader yet."""
        from confluent_kafka import Consumer
        from confluent_kafka import KafkaException
        from confluent_kafka import TopicPartition

        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "ff-watermarks"})
        try:
            meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None:
                return {}
            out = {}
            for p in meta.partitions:
                try:
                    _low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, p), timeout=10
                    )
                except KafkaException as exc:
                    if exc.args[0].code() in _NO_LEADER_YET:
                        return {}
                    raise
                if high > 0:
                    out[p] = high
            return out
        finally:
            consumer.close()

    def settled_digest(self, timeout_s: float = 45.0, quiet_s: float = 2.0) -> dict[str, Any]:
        """The worker's digest once it has processed every sequenced message (and stays so)."""
        deadline = time.monotonic() + timeout_s
        stable_since: float | None = None
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            ends = {
                t: self.end_offsets(t)
                for t in (self.settings.md_sequenced, self.settings.risk_sequenced)
            }
            ends = {t: p for t, p in ends.items() if p}
            document = read_digest(self.settings.digest_path) if self.settings.digest_path else None
            caught_up = document is not None and document["cut"] == ends
            if caught_up and last is not None and document == last:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since >= quiet_s:
                    return document
            else:
                stable_since = None
            last = document
            time.sleep(0.3)
        raise TimeoutError(f"worker did not settle; last digest {last}; log:\n{self.log_tail()}")

    def settled_after(self, published: int, timeout_s: float = 60.0) -> dict[str, Any]:
        """The settled digest once the sequenced log holds ``published`` market events (a digest
        that settled before the sequencer read the newest events would compare an older cut)."""
        from schemas.records.stream import SequencedBatch
        from streams.digest import read_cut

        deadline = time.monotonic() + timeout_s
        while True:
            live = self.settled_digest()
            md = {self.settings.md_sequenced: live["cut"].get(self.settings.md_sequenced, {})}
            sequenced = sum(
                len(self.codec.decode_as(raw, SequencedBatch).values)
                for _, _offset, raw in read_cut(self.settings.bootstrap, md)
            )
            if sequenced >= published:
                return live
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{sequenced} of {published} events sequenced:\n{self.log_tail()}"
                )
            time.sleep(0.3)
