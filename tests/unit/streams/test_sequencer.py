"""Sequencer packing: arrival order per target partition, and no message it cannot carry."""

from __future__ import annotations

from dataclasses import dataclass

from processors.market_state import MarketReducer
from schemas.codec import Codec
from schemas.records.dlq import DeadLetterReason
from schemas.registry import InMemoryRegistry
from schemas.topics import MD_BOOK
from schemas.topics import STREAM_BATCH
from streams.batches import apply_market_batch
from streams.config import StreamsSettings
from streams.sequencer import pack
from streams.sequencer import router


@dataclass
class _Message:
    """The confluent-kafka ``Message`` accessors the sequencer reads."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = b"AAA"

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_767_225_600_000)

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value


def test_a_tombstone_is_packed_as_empty_bytes_and_becomes_a_dead_letter() -> None:
    settings = StreamsSettings(app_id="unit")
    messages = [_Message(MD_BOOK, 2, 7, None, None), _Message(MD_BOOK, 2, 8, b"junk")]
    codec = Codec(InMemoryRegistry())
    [(target, partition, batch)] = pack(messages, router(settings, codec), 1000)
    assert (target, partition) == (settings.md_sequenced, 2)
    assert batch.values == (b"", b"junk")
    assert batch.offsets == (7, 8)
    codec.encode(batch, STREAM_BATCH)  # the batch itself always encodes
    outcome = apply_market_batch(MarketReducer(settings.market), codec, batch, 0)
    assert [r.source.offset for r in outcome.refused] == [7, 8]
    assert outcome.refused[0].error.reason is DeadLetterReason.UNDECODABLE  # type: ignore[attr-defined]
