"""The simulated venues through the connector into the real broker (prints a rate figure)."""

from __future__ import annotations

import pytest

from connectors.feed import FeedConfig
from connectors.feed import run_feed
from connectors.publisher import KafkaPublisher
from connectors.sinks import KafkaSink

pytestmark = pytest.mark.integration


async def test_sim_feed_into_kafka(kafka_bootstrap: str, schema_registry_url: str) -> None:
    publisher = KafkaPublisher(kafka_bootstrap, schema_registry_url)
    config = FeedConfig(venues=("sim",), assets=("BTC", "ETH"), limit=5000, seed=42)
    stats = await run_feed(config, KafkaSink(publisher))
    assert stats.total == 5000
    assert publisher.delivered == 5000 + stats.facts
    assert publisher.failed == 0
    assert set(stats.published) == {"md.instrument", "md.book", "md.funding", "md.trade"}
    print(
        f"\nsim -> kafka: {stats.total} records in {stats.wall_s:.2f} s "
        f"({stats.total / stats.wall_s:,.0f}/s), "
        f"{(stats.venue_ms - stats.started_ms) / 1000:.0f} s "
        f"of sim time, dead letters {dict(stats.dead_letters)}"
    )
