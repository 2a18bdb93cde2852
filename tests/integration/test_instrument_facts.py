"""Instrument facts on the real broker: keyed by instrument, in the partition of their asset."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from confluent_kafka import Consumer
from confluent_kafka import Producer
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import NewTopic

from connectors.facts import instrument_facts
from connectors.publisher import KafkaPublisher
from connectors.publisher import producer_config
from connectors.venue import Instrument
from schemas.records.common import MarketType
from schemas.topics import MD_INSTRUMENT
from schemas.topics import by_name

pytestmark = pytest.mark.integration
ASSETS = ("BTC", "ETH", "SOL", "DOGE", "XRP", "ADA", "AVAX", "LINK")


def _instrument(asset: str, venue: str) -> Instrument:
    return Instrument(
        exchange=venue,
        symbol=f"{asset}/USDT:USDT",
        venue_symbol=f"{asset}USDT",
        market_type=MarketType.PERP,
        base=asset,
        quote="USDT",
        settle="USDT",
        contract_size_base=Decimal("0.01"),
        price_increment=Decimal("0.1"),
        amount_increment=Decimal(1),
        min_amount=Decimal(1),
        maker_fee=Decimal("0.0002"),
        taker_fee=Decimal("0.0005"),
        active=True,
    )


def _keyed_partitions(bootstrap: str, keys: tuple[str, ...], partitions: int) -> dict[str, int]:
    """Where librdkafka's default partitioner puts each key (as md.book's asset keys)."""
    topic = f"test-partitioner-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    got: dict[str, int] = {}
    producer = Producer(producer_config(bootstrap))

    def report(err: object, msg: object) -> None:
        assert err is None
        got[msg.key().decode()] = msg.partition()  # type: ignore[attr-defined]

    try:
        for key in keys:
            producer.produce(topic, value=b"x", key=key.encode(), on_delivery=report)
        assert producer.flush(30) == 0
    finally:
        admin.delete_topics([topic])
    return got


def test_facts_are_keyed_by_instrument_and_partitioned_by_asset(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    venue = f"test-{uuid.uuid4().hex[:8]}"
    publisher = KafkaPublisher(kafka_bootstrap, schema_registry_url)
    publisher.register([MD_INSTRUMENT])
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"t-{venue}",
            "enable.auto.commit": False,
        }
    )
    partitions = by_name(MD_INSTRUMENT).partitions
    ends = []
    for p in range(partitions):
        _, high = consumer.get_watermark_offsets(TopicPartition(MD_INSTRUMENT, p), timeout=10)
        ends.append(TopicPartition(MD_INSTRUMENT, p, high))
    for asset in ASSETS:
        publisher.publish(MD_INSTRUMENT, instrument_facts(_instrument(asset, venue), 1_000))
    publisher.flush()
    consumer.assign(ends)
    landed: dict[str, tuple[bytes, int | None]] = {}
    for _ in range(200):
        m = consumer.poll(0.5)
        if m is None:
            if len(landed) == len(ASSETS):
                break
            continue
        assert m.error() is None
        key = m.key() or b""
        if key.startswith(venue.encode()):
            landed[key.decode().split(":", 1)[1].split("/")[0]] = (key, m.partition())
    consumer.close()
    assert set(landed) == set(ASSETS)
    expected = _keyed_partitions(kafka_bootstrap, ASSETS, partitions)
    for asset, (key, partition) in landed.items():
        assert key == f"{venue}:{asset}/USDT:USDT".encode()  # compaction keeps each instrument
        assert partition == expected[asset], asset  # the partition md.book gives the asset
    assert len(set(expected.values())) > 1  # the assets spread: the check is not vacuous


def test_the_topic_is_compacted() -> None:
    spec = by_name(MD_INSTRUMENT)
    assert spec.cleanup_policy == "compact"
