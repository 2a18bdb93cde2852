"""Canonical digest (stable, order- and seed-independent) and the live open-opportunity fold."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from decimal import Decimal

from benchmarks import synthetic as syn
from fundingflow.live_view import LiveView
from fundingflow.live_view import fold
from fundingflow.live_view import rows
from processors.market_state import MarketRecord
from processors.market_state import MarketReducer
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.records.arb import Lifecycle
from schemas.registry import InMemoryRegistry
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import STREAM_BATCH
from streams.config import StreamsSettings
from streams.digest import canonical
from streams.digest import replay
from streams.digest import state_digest
from streams.sequencer import BatchBuilder

T = 1_767_225_600_000


def _digest_of(
    events: Sequence[tuple[str, AvroRecord]], settings: StreamsSettings, batch: int = 1
) -> str:
    codec = Codec(InMemoryRegistry())
    values: list[tuple[str, int, bytes]] = []
    for start in range(0, len(events), batch):
        builder = BatchBuilder()
        for i, (topic, record) in enumerate(events[start : start + batch], start):
            builder.add(topic, 0, i, T, b"", codec.encode(record, topic))
        encoded = codec.encode(builder.build(), STREAM_BATCH)
        values.append((settings.md_sequenced, len(values), encoded))
    market, risk = replay(values, codec, settings)
    return state_digest(market.assets, risk.state)


def test_canonical_form_is_stable() -> None:
    assert canonical({"b": Decimal("1.500"), "a": {frozenset({2, 1})}}) == {
        "b": "1.5",
        "a": [[1, 2]],
    }
    assert canonical(Decimal("0E-18")) == "0"


def test_replay_digest_is_deterministic_and_sees_duplicates_as_no_ops() -> None:
    settings = StreamsSettings()
    events = syn.random_walk(400)
    once = _digest_of(events, settings)
    assert once == _digest_of(events, settings)
    with_redelivery = events[:300] + events[250:300] + events[300:]
    assert _digest_of(with_redelivery, settings) == once
    assert _digest_of(events[:399], settings) != once


def test_replay_digest_does_not_depend_on_the_batch_size() -> None:
    settings = StreamsSettings()
    events = syn.random_walk(400)
    once = _digest_of(events, settings)
    assert {_digest_of(events, settings, size) for size in (7, 64, 1000)} == {once}


def test_digest_does_not_depend_on_the_hash_seed() -> None:
    code = (
        "from benchmarks import synthetic as s;"
        "from tests.unit.streams.test_digest_and_live_view import _digest_of;"
        "from streams.config import StreamsSettings;"
        "print(_digest_of(s.random_walk(200), StreamsSettings()))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(outs) == 1


def test_live_view_folds_open_update_close() -> None:
    m = MarketReducer(StreamsSettings().market.model_copy(update={"min_eval_interval_ms": 0}))
    records: list[MarketRecord] = [
        syn.funding("ex-a", "AAA/USDT:USDT", "0.0001", T, 1),
        syn.funding("ex-b", "AAA/USDT:USDT", "0.002", T, 1),
        syn.book("ex-a", "AAA/USDT:USDT", "100", T + 1, 1),
        syn.book("ex-b", "AAA/USDT:USDT", "100", T + 2, 1),
        syn.book("ex-a", "AAA/USDT:USDT", "100.01", T + 5, 2),
    ]
    events = [o for r in records for o in m.apply(r).opportunities]
    view = LiveView()
    for event in events:
        fold(view, event)
    (row,) = rows(view)
    assert row.asset == "AAA"
    assert row.long_leg == "ex-a:AAA/USDT:USDT"
    assert row.updates == 1
    assert row.funding_short == Decimal("0.002")
    closed = events[-1].model_copy(update={"lifecycle": Lifecycle.CLOSED})
    fold(view, closed)
    assert rows(view) == []
    assert view.closed_total == 1
    fold(view, closed)  # a redelivered close changes nothing
    assert view.closed_total == 1


_ = (MD_BOOK, MD_FUNDING)


def test_the_replay_computes_with_the_settings_the_worker_recorded() -> None:
    """A run that overrides a market setting (``fundingflow run`` on the sim widens the stale
    window) is replayed with that override, not with the defaults."""
    from processors.settings import MarketSettings as Market
    from streams.digest import replay_settings

    worker = StreamsSettings(market=Market(stale_after_ms=60_000, min_eval_interval_ms=0))
    document = {
        "market": worker.market.model_dump(mode="json"),
        "risk": worker.risk.model_dump(mode="json"),
    }
    replayed = replay_settings(StreamsSettings(), json.loads(json.dumps(document)))
    assert replayed.market == worker.market
    assert replayed.risk == worker.risk
    assert replay_settings(StreamsSettings(), {}).market == StreamsSettings().market
