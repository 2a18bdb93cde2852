"""Re-stamped benchmark ticks decode to their template with the new envelope."""

from __future__ import annotations

from benchmarks.offline import rss_mb
from benchmarks.pools import MarketPool
from benchmarks.pools import TickPool
from benchmarks.pools import avro_long
from schemas.codec import Codec
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.registry import InMemoryRegistry
from schemas.topics import key_for


def test_avro_long_is_zigzag_varint() -> None:
    assert avro_long(0) == b"\x00"
    assert avro_long(-1) == b"\x01"
    assert avro_long(1) == b"\x02"
    assert avro_long(64) == b"\x80\x01"


def test_stamped_ticks_decode_with_their_new_envelope() -> None:
    codec = Codec(InMemoryRegistry())
    ticks = TickPool(codec, 4).ticks(300, 1_767_225_600_000, seq0=1_000)
    ids = set()
    for i, (key, value) in enumerate(ticks):
        record = codec.decode(value)
        assert isinstance(record, BookSnapshot)
        assert record.envelope.event_time_ms == 1_767_225_600_000 + i // 10
        assert record.envelope.source_seq == 1_000 + i + 1
        assert record.envelope.ingest_time_ms == record.envelope.event_time_ms
        assert key == key_for(record)
        ids.add(record.envelope.event_id)
    assert len(ids) == len(ticks)


def test_market_pool_mixes_funding_and_books() -> None:
    codec = Codec(InMemoryRegistry())
    pool = MarketPool(codec, 3, funding_every=5)
    records = [codec.decode(pool.event(i, 1_000 + i)[2]) for i in range(50)]
    assert sum(isinstance(r, FundingRateUpdate) for r in records) == 10
    for i, r in enumerate(records):
        assert isinstance(r, BookSnapshot | FundingRateUpdate)
        assert r.envelope.source_seq == i + 1


def test_rss_is_read_from_proc() -> None:
    mb = rss_mb()
    assert mb is None or mb > 0
