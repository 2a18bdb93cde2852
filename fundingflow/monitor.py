"""Pipeline health from the broker itself: messages and rates per catalogue topic."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import Consumer
from confluent_kafka import KafkaException
from confluent_kafka import TopicPartition

from schemas.errors import StackError


@dataclass(frozen=True, slots=True)
class TopicFlow:
    """How many records a topic holds and how fast it grows."""

    topic: str
    records: int
    per_second: float


class TopicWatcher:
    """Samples high watermarks of a fixed set of topics (no consumer group is joined)."""

    def __init__(self, bootstrap: str, topics: Sequence[str]) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "fundingflow-monitor", "log_level": 0}
        )
        self._topics = list(topics)
        self._partitions: dict[str, int] = {}
        self._last: dict[str, tuple[float, int]] = {}
        try:
            meta = self._consumer.list_topics(timeout=10)
        except KafkaException as exc:
            raise StackError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
        for name in self._topics:
            topic = meta.topics.get(name)
            if topic is None or topic.error is not None:
                raise StackError(f"topic {name} does not exist; run `fundingflow topics create`")
            self._partitions[name] = len(topic.partitions)

    def sample(self) -> list[TopicFlow]:
        now = time.monotonic()
        flows = []
        for name in self._topics:
            total = 0
            for partition in range(self._partitions[name]):
                low, high = self._consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=5, cached=False
                )
                total += max(0, high - low)
            then, before = self._last.get(name, (now, total))
            rate = (total - before) / (now - then) if now > then else 0.0
            self._last[name] = (now, total)
            flows.append(TopicFlow(name, total, rate))
        return flows

    def close(self) -> None:
        self._consumer.close()
