"""Agents under ``agent.test_context()`` with the memory store: one error boundary per message."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import synthetic as syn
from processors.settings import MarketSettings
from schemas.codec import Codec
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.dlq import DeadLetter
from schemas.records.dlq import DeadLetterReason
from schemas.registry import InMemoryRegistry
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import STREAM_BATCH
from streams.app import create_app
from streams.config import StreamsSettings
from streams.sequencer import BatchBuilder

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


async def test_market_agent_dead_letters_bad_messages_of_a_batch_and_applies_the_rest(
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
    batch = BatchBuilder()
    batch.add(MD_FUNDING, 2, 40, T, b"AAA", codec.encode(records[0][1], MD_FUNDING))
    batch.add(MD_BOOK, 2, 10, T, b"AAA", b"\x00\x7f\xff\xff\xf0garbage")
    batch.add(MD_BOOK, 2, 11, T, b"AAA", b"not even framed")
    for offset, (topic, record) in enumerate(records[1:], 41):
        batch.add(topic, 2, offset, T, b"AAA", codec.encode(record, topic))
    async with agent.test_context() as context:
        await context.put(b"not a batch", key=b"AAA", partition=2)
        await context.put(codec.encode(batch.build(), STREAM_BATCH), key=b"AAA", partition=2)
    decoded = [(topic, codec.decode(value)) for topic, value in sent]
    letters = [r for _, r in decoded if isinstance(r, DeadLetter)]
    assert [r.reason for r in letters] == [
        DeadLetterReason.BAD_MAGIC_BYTE,
        DeadLetterReason.UNKNOWN_SCHEMA_ID,
        DeadLetterReason.BAD_MAGIC_BYTE,
    ]
    assert letters[0].raw == b"not a batch"
    assert [(r.source_topic, r.source_partition, r.source_offset) for r in letters[1:]] == [
        (MD_BOOK, 2, 10),
        (MD_BOOK, 2, 11),
    ]
    assert letters[2].raw == b"not even framed"
    assert {topic for topic, r in decoded if isinstance(r, DeadLetter)} == {"dlq.md"}
    opened = [r for _, r in decoded if isinstance(r, Opportunity)]
    assert [o.lifecycle for o in opened] == [Lifecycle.OPENED]
    stored = wiring.load_asset("AAA")
    assert stored is not None
    assert set(stored.records) == {
        "AAA|F|ex-a|AAA/USDT:USDT",
        "AAA|F|ex-b|AAA/USDT:USDT",
        "AAA|B|ex-a|AAA/USDT:USDT",
        "AAA|B|ex-b|AAA/USDT:USDT",
    }
    assert len(stored.book.open) == 1
    assert wiring.stored_cut(settings.md_sequenced, 2) is not None
