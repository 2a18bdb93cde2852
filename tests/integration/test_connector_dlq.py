"""Bad venue payloads land in dlq.md exactly once each; good events around them reach md.*
(real broker and registry; records are consumed back and counted)."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.publisher import KafkaPublisher
from connectors.publisher import PublishError
from connectors.sinks import KafkaSink
from schemas.codec import Codec
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.records.dlq import DeadLetter
from schemas.records.md import BookSnapshot
from schemas.registry import ConfluentRegistry
from tests.unit.connectors.scripted import PROFILE
from tests.unit.connectors.scripted import bad_payload_script

pytestmark = pytest.mark.integration
TOPICS = ("md.book", "md.funding", "md.trade", "dlq.md")


def _end_offsets(bootstrap: str) -> list[TopicPartition]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex}"})
    try:
        out = []
        for topic in TOPICS:
            meta = consumer.list_topics(topic, timeout=30).topics[topic]
            for p in meta.partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
                out.append(TopicPartition(topic, p, high))
        return out
    finally:
        consumer.close()


def _consume_from(
    bootstrap: str, start: list[TopicPartition], want: int
) -> list[tuple[str, bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"t-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign(start)
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + 60
    idle = 0
    try:
        while time.monotonic() < deadline and idle < 5:
            msg = consumer.poll(1.0)
            if msg is None:
                idle += 1 if len(got) >= want else 0
                continue
            assert msg.error() is None, msg.error()
            got.append((msg.topic() or "", msg.value() or b""))
    finally:
        consumer.close()
    return got


async def test_bad_payloads_dead_lettered_once_good_ones_published(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    exchange_id = f"scripted-{uuid.uuid4().hex[:8]}"
    ex, expected, good = bad_payload_script(exchange_id)
    settings = ConnectorSettings()
    venue = CcxtVenue(ex, settings=settings, profile=PROFILE)
    config = FeedConfig(
        venues=(exchange_id,),
        assets=("BTC", "ETH", "SOL", "DOGE"),
        limit=good + sum(expected.values()),
        settings=settings,
        venue_factory=lambda _vid: [venue],
    )
    start = _end_offsets(kafka_bootstrap)
    publisher = KafkaPublisher(kafka_bootstrap, schema_registry_url)
    stats = await run_feed(config, KafkaSink(publisher))
    assert publisher.failed == 0
    assert publisher.delivered == stats.total + stats.facts

    codec = Codec(ConfluentRegistry(schema_registry_url))
    ours_good: Counter[str] = Counter()
    ours_dead: Counter[str] = Counter()
    for topic, value in _consume_from(kafka_bootstrap, start, stats.total):
        record = codec.decode_for_topic(value, topic)
        if isinstance(record, DeadLetter):
            headers = {h.key: h.value for h in record.headers}
            if headers.get("exchange") == exchange_id.encode():
                ours_dead[record.reason.value] += 1
                assert record.raw  # raw ccxt structure kept
        elif getattr(getattr(record, "instrument", None), "exchange", None) == exchange_id:
            ours_good[topic] += 1
            if isinstance(record, BookSnapshot):
                assert bid_levels(record)[0].price < ask_levels(record)[0].price
    assert dict(ours_dead) == expected, "each bad payload exactly once, with its reason"
    assert len(expected) >= 12
    assert ours_good == {"md.book": 5, "md.funding": 3, "md.trade": 2}


def test_undeliverable_records_make_flush_raise(schema_registry_url: str) -> None:
    publisher = KafkaPublisher(
        "127.0.0.1:1",  # nothing listens: every delivery times out
        schema_registry_url,
        producer_extra={"delivery.timeout.ms": 1500, "request.timeout.ms": 1000},
    )
    from connectors.instruments import to_instrument
    from connectors.normalize import to_book_snapshot
    from tests.unit.connectors.scripted import NOW_MS
    from tests.unit.connectors.scripted import book
    from tests.unit.connectors.scripted import market

    ins = to_instrument("unreachable", market("BTC/USDT:USDT"), 4)
    record = to_book_snapshot(book(ins.symbol, 1), ins, 5, NOW_MS, ConnectorSettings().bounds)
    publisher.publish("md.book", record)
    with pytest.raises(PublishError):
        publisher.flush(10)
    assert publisher.failed == 1
