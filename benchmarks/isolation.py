"""Prefixed copies of catalogue topics, so tests and benchmarks never share data with a run."""

from __future__ import annotations

from collections.abc import Iterable

from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.topics import by_name
from schemas.topics import key_for
from streams.internal_topics import create_missing


def create_prefixed_topics(bootstrap: str, prefix: str, logical: Iterable[str]) -> list[str]:
    """Create ``prefix + name`` for each catalogue topic (same partitions); return the names."""
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin import NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [NewTopic(prefix + n, by_name(n).partitions, 1) for n in logical]
    create_missing(admin, topics, 30.0)
    return [t.topic for t in topics]


def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Best-effort deletion (tests clean up after themselves)."""
    from confluent_kafka.admin import AdminClient

    wanted = list(names)
    if not wanted:
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(wanted, operation_timeout=30).values():
        try:
            future.result(timeout=30)
        except Exception:  # noqa: S112 - best effort
            continue


def publish_records(
    bootstrap: str, codec: Codec, items: Iterable[tuple[str, AvroRecord]], prefix: str = ""
) -> int:
    """Encode and produce ``(logical topic, record)`` pairs in order, keyed by ``key_for``;
    flush and raise if anything stays undelivered. Returns the count."""
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 1,
            "socket.nagle.disable": True,
            "enable.idempotence": True,
        }
    )
    count = 0
    for topic, record in items:
        producer.produce(prefix + topic, codec.encode(record, topic), key_for(record))
        count += 1
        if count % 1000 == 0:
            producer.poll(0)
    left = producer.flush(30)
    if left:
        raise RuntimeError(f"{left} records not delivered")
    return count
