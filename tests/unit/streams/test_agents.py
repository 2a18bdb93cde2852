"""Agents under ``agent.test_context()`` with the memory store: one error boundary per message."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.codec import Codec
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.dlq import DeadLetter
from schemas.records.dlq import DeadLetterReason
from schemas.registry import InMemoryRegistry
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from streams import synthetic as syn
from streams.app import create_app
from streams.config import MarketSettings
from streams.config import StreamsSettings

T = 1_767_225_600_000


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every ``Topic.send`` the agents make, as (topic name, value)."""
    import faust.topics

    out: list[tuple[str, Any]] = []

    async def send(self: Any, *, key: Any = None, value: Any = None, **_: Any) -> None:
        out.append((self.get_topic_name(), value))

    monkeypatch.setattr(faust.topics.Topic, "send", send)
    return out


async def test_market_agent_routes_bad_bytes_to_the_dlq_and_lives_on(
    sent: list[tuple[str, Any]],
) -> None:
    codec = Codec(InMemoryRegistry())
    settings = StreamsSettings(app_id="unit", market=MarketSettings(min_eval_interval_ms=0))
    wiring = create_app(settings, codec=codec)
    agent = wiring.app.agents["market"]
    records = [
        (MD_FUNDING, syn.funding("ex-a", "AAA/USDT:USDT", "0.0001", T, 1)),
        (MD_FUNDING, syn.funding("ex-b", "AAA/USDT:USDT", "0.002", T, 1)),
        (MD_BOOK, syn.book("ex-a", "AAA/USDT:USDT", "100", T + 1, 1)),
        (MD_BOOK, syn.book("ex-b", "AAA/USDT:USDT", "100", T + 2, 1)),
    ]
    async with agent.test_context() as context:
        await context.put(b"\x00\x7f\xff\xff\xf0garbage", key=b"AAA")
        await context.put(b"not even framed", key=b"AAA")
        for topic, record in records:
            await context.put(codec.encode(record, topic), key=b"AAA")
    decoded = [(topic, codec.decode(value)) for topic, value in sent]
    letters = [r for _, r in decoded if isinstance(r, DeadLetter)]
    assert [r.reason for r in letters] == [
        DeadLetterReason.UNKNOWN_SCHEMA_ID,
        DeadLetterReason.BAD_MAGIC_BYTE,
    ]
    assert letters[1].raw == b"not even framed"
    assert {topic for topic, r in decoded if isinstance(r, DeadLetter)} == {"dlq.md"}
    opened = [r for _, r in decoded if isinstance(r, Opportunity)]
    assert [o.lifecycle for o in opened] == [Lifecycle.OPENED]
    assert set(wiring.md_latest.keys()) == {
        b"AAA|F|ex-a|AAA/USDT:USDT",
        b"AAA|F|ex-b|AAA/USDT:USDT",
        b"AAA|B|ex-a|AAA/USDT:USDT",
        b"AAA|B|ex-b|AAA/USDT:USDT",
    }
    assert wiring.lifecycle.get(b"AAA") is not None
