"""Kafka publisher: records → Confluent-framed Avro → an idempotent producer.

Delivery failures are never dropped: each is counted (prometheus), logged as an error and
remembered; :meth:`KafkaPublisher.flush` and :meth:`close` raise :class:`PublishError` when
anything failed or stayed unsent, so the CLI exits non-zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import structlog
from confluent_kafka import KafkaError
from confluent_kafka import Message
from confluent_kafka import Producer
from prometheus_client import Counter

from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import FundingflowError
from schemas.registry import ConfluentRegistry
from schemas.registry import SchemaRegistry
from schemas.subjects import subject_schema_str
from schemas.topics import by_name
from schemas.topics import key_for
from schemas.topics import partition_for
from schemas.topics import partition_key_for

log = structlog.get_logger("connectors.publisher")

PUBLISHED = Counter(
    "fundingflow_connector_published_total", "Records acknowledged by Kafka", ["topic"]
)
DELIVERY_FAILURES = Counter(
    "fundingflow_connector_delivery_failures_total",
    "Records Kafka failed to deliver",
    ["topic"],
)
DEAD_LETTERS = Counter(
    "fundingflow_connector_dead_letters_total", "Venue payloads sent to a DLQ", ["reason"]
)

#: Market data: send at once (linger <= 1 ms, Nagle off); the client still batches.
LOW_LATENCY = {"linger.ms": 1, "socket.nagle.disable": True, "batch.num.messages": 10_000}
DURABLE = {"enable.idempotence": True, "acks": "all", "max.in.flight.requests.per.connection": 5}


class PublishError(FundingflowError):
    """Records could not be delivered to Kafka."""


def producer_config(bootstrap: str, *, low_latency: bool = True, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        **DURABLE,
        "delivery.timeout.ms": 30_000,
        "compression.type": "lz4",
    }
    if low_latency:
        config.update(LOW_LATENCY)
    config.update(extra)
    return config


class KafkaPublisher:
    """Encode with :class:`schemas.codec.Codec`, key from the catalogue, produce, count."""

    def __init__(
        self,
        bootstrap: str,
        registry: SchemaRegistry | str,
        *,
        low_latency: bool = True,
        producer_extra: dict[str, Any] | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.topic_prefix = topic_prefix
        """Namespace of the topics produced to (``<prefix><catalogue name>``); the schema is
        the catalogue topic's."""
        self.registry = ConfluentRegistry(registry) if isinstance(registry, str) else registry
        self.codec = Codec(self.registry)
        self.config = producer_config(bootstrap, low_latency=low_latency, **(producer_extra or {}))
        self._producer = Producer(self.config)
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []
        self._partitions: dict[str, int] = {}

    def register(self, topics: Iterable[str]) -> dict[str, int]:
        """Register the value schema of every topic this publisher writes (on start)."""
        ids = {}
        for topic in topics:
            spec = by_name(topic)
            ids[spec.subject] = self.registry.register(spec.subject, subject_schema_str(spec))
        return ids

    def publish(self, topic: str, record: AvroRecord) -> None:
        self.publish_encoded(
            topic, self.codec.encode(record, topic), key_for(record), partition_key_for(record)
        )

    def publish_encoded(
        self, topic: str, value: bytes, key: bytes, partition_key: bytes | None = None
    ) -> None:
        """Publish a value already framed for ``topic`` by this publisher's codec (a record
        stored as its wire bytes), under ``key``; ``partition_key`` when it is not the key."""
        topic = self.topic_prefix + topic
        partition = -1  # the default partitioner's choice from the key
        if partition_key is not None and partition_key != key:
            # partitioned by another text than its key (instrument facts: the asset)
            partition = partition_for(partition_key, self._partition_count(topic))
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, partition=partition, on_delivery=self._on_delivery
                )
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                self._producer.poll(0.1)
        self._producer.poll(0)

    def _partition_count(self, topic: str) -> int:
        """Partitions of ``topic`` as the cluster has them (asked once per topic)."""
        count = self._partitions.get(topic)
        if count is None:
            meta = self._producer.list_topics(topic, timeout=10).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                reason = "unknown topic" if meta is None else str(meta.error or "no partitions")
                raise PublishError(f"{topic}: cannot read its partitions ({reason})")
            count = self._partitions[topic] = len(meta.partitions)
        return count

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        topic = msg.topic() or "?"
        if err is None:
            self.delivered += 1
            PUBLISHED.labels(topic).inc()
            return
        self.failed += 1
        DELIVERY_FAILURES.labels(topic).inc()
        text = f"{topic}: {err.str()}"
        if len(self.errors) < 20:
            self.errors.append(text)
        log.error("delivery_failed", topic=topic, error=err.str(), retriable=err.retriable())

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait for every delivery report; raise when anything failed or stayed unsent."""
        remaining = self._producer.flush(timeout_s)
        if remaining or self.failed:
            detail = "; ".join(self.errors[:5]) or "timed out"
            raise PublishError(
                f"{self.failed} record(s) failed and {remaining} stayed unsent: {detail}"
            )

    def close(self, timeout_s: float = 30.0) -> None:
        self.flush(timeout_s)
