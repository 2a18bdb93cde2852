"""Sequencer packing: arrival order per target partition, and no message it cannot carry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from benchmarks import synthetic as syn
from processors.market_state import MarketReducer
from schemas.codec import Codec
from schemas.records.dlq import DeadLetterReason
from schemas.registry import InMemoryRegistry
from schemas.topics import MD_BOOK
from schemas.topics import MD_INSTRUMENT
from schemas.topics import STREAM_BATCH
from schemas.topics import partition_for
from streams.batches import apply_market_batch
from streams.config import StreamsSettings
from streams.sequencer import _Pipeline
from streams.sequencer import pack
from streams.sequencer import pack_with_spans
from streams.sequencer import router

CODEC = Codec(InMemoryRegistry())


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


def _fact(asset: str, venue: str = "ex-a") -> bytes:
    record = syn.facts(venue, f"{asset}/USDT:USDT", 1_767_225_600_000)
    return CODEC.encode(record, MD_INSTRUMENT)


def test_a_fact_goes_to_its_assets_partition_whatever_partition_it_was_read_from() -> None:
    settings = StreamsSettings(app_id="unit")
    home = partition_for(b"AAA", settings.md_partitions)
    elsewhere = (home + 2) % settings.md_partitions
    routing = router(settings, CODEC)
    assert routing.slot(_Message(MD_INSTRUMENT, elsewhere, 0, _fact("AAA"))) == (
        settings.md_sequenced,
        home,
    )
    assert routing.slot(_Message(MD_BOOK, home, 0, b"junk")) == (settings.md_sequenced, home)
    # what does not decode stays where it was read (the agent dead-letters it there)
    assert routing.slot(_Message(MD_INSTRUMENT, elsewhere, 1, b"junk")) == (
        settings.md_sequenced,
        elsewhere,
    )


def test_twin_without_routing_by_asset_a_fact_stays_in_the_partition_it_was_read_from() -> None:
    settings = StreamsSettings(app_id="unit", sequencer_facts_by_asset=False)
    home = partition_for(b"AAA", settings.md_partitions)
    elsewhere = (home + 2) % settings.md_partitions
    routing = router(settings, CODEC)
    slot = routing.slot(_Message(MD_INSTRUMENT, elsewhere, 0, _fact("AAA")))
    assert slot == (settings.md_sequenced, elsewhere)


def test_facts_of_one_source_partition_fan_out_and_the_spans_name_each_batchs_offsets() -> None:
    settings = StreamsSettings(app_id="unit")
    n = settings.md_partitions
    assets = ("AAA", "BBB", "FFF")
    homes = {a: partition_for(a.encode(), n) for a in assets}
    assert len(set(homes.values())) == 3  # three different sequenced partitions
    messages = [_Message(MD_INSTRUMENT, 4, i, _fact(a)) for i, a in enumerate(assets * 2)]
    packed = pack_with_spans(messages, router(settings, CODEC), 1000)
    got = {partition: (batch.offsets, spans) for _t, partition, batch, spans in packed}
    assert got == {
        homes[a]: ((i, i + 3), {(MD_INSTRUMENT, 4): (i, i + 4)}) for i, a in enumerate(assets)
    }


@dataclass
class _Producer:
    """Keeps the delivery callbacks, to deliver the batches in any order."""

    callbacks: list[Callable[[Any, Any], None]] = field(default_factory=list)

    def produce(self, *_args: Any, on_delivery: Callable[[Any, Any], None], **_: Any) -> None:
        self.callbacks.append(on_delivery)


def test_a_source_offset_is_committable_only_once_everything_below_it_was_delivered() -> None:
    """Facts of one source partition travel in batches to several sequenced partitions, whose
    deliveries interleave: a later batch delivered first does not make the earlier offsets
    committable, nor does a message the ordered merge still holds."""
    producer = _Producer()
    held: dict[tuple[str, int], int] = {}
    pipeline = _Pipeline(consumer=None, producer=producer, held=lambda: held)
    q, book = (MD_INSTRUMENT, 4), (MD_BOOK, 1)
    pipeline.produce("md-seq", 1, b"a", {q: (3, 8), book: (0, 10)})  # facts 3 and 7, books
    pipeline.produce("md-seq", 3, b"b", {q: (5, 6)})  # fact 5
    pipeline.produce("md-seq", 1, b"c", {book: (10, 20)})
    first, second, third = producer.callbacks
    assert pipeline.committable() == {}
    first(None, None)
    assert pipeline.committable() == {q: 5, book: 10}  # fact 5 is still in flight
    third(None, None)
    second(None, None)
    assert pipeline.committable() == {q: 8, book: 20}
    held[q] = 6  # fact 6 is held back by the ordered merge
    assert pipeline.committable() == {q: 6, book: 20}
