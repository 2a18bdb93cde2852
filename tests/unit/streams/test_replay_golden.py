"""Golden replay: a fixed synthetic market through the batch boundary gives the same outputs
and the same state, to the last digit, as the reducers did before their hot path was made
faster.

The scenario is the offline benchmark's market (:class:`benchmarks.pools.MarketPool`: 20 assets
x 3 venues, books with a moving touch and funding rates cycling so carries open and close,
10 events per ms of event time), applied by :func:`streams.batches.apply_market_batch` in
sequenced batches of 1000. The golden values are hashes of the canonical JSON
(:func:`streams.digest.canonical`) of every opportunity and spread record produced, in order,
and the state digest at the end; they were computed with the reducers as they were before
(record keys computed per call, every change compared before the throttle, the generic
decimal(38, 18) walk of :func:`processors.units.persistable`, ``wire_decimal`` through
``fit_decimal``). A change of any figure, id, order or stored value changes a hash.

The reducers compute in the thread's decimal context, which is not always the default one in a
test process: ccxt's ``decimal_to_precision`` sets the calling thread's rounding to half-up (the
venue tests call it), which changes the figures (and the synthetic books). The scenario is built
and applied in a default context.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Context
from decimal import localcontext

import pytest

from benchmarks.offline import _batches
from benchmarks.pools import MarketPool
from processors.market_state import MarketReducer
from processors.risk_state import RiskBook
from schemas.codec import Codec
from schemas.records.stream import SequencedBatch
from schemas.registry import InMemoryRegistry
from schemas.topics import STREAM_BATCH
from streams.batches import apply_market_batch
from streams.config import StreamsSettings
from streams.digest import canonical
from streams.digest import replay
from streams.digest import state_digest

EVENTS = 40_000
GOLDEN = {
    "opportunities": ("c61c692cebdd51c5421c6359e87e889a536e2b913e0ae99fbe3f949f5d3694eb", 1134),
    "spreads": ("2ca326950e513a8aae5eccfd71f226f82f96d4927b47ea1556158512e2d9eb61", 1620),
    "digest": "6952cdb6f37652ab37ab4393b454b8431138b481c0bd41d7f30c23ed1499e913",
    "exact": "3d9b64842a46c0eeb6c9b8341d7d191f8444ad532b3134087520f0fa1ea4b3fc",
}


@pytest.fixture(autouse=True)
def default_decimal_context() -> Iterator[None]:
    with localcontext(Context()):
        yield


def _hash(records: list[object]) -> str:
    text = json.dumps([canonical(r) for r in records], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _exact(values: list[object]) -> str:
    """Hash of the values' reprs: every Decimal with its exponent (``1.50`` is not ``1.5``),
    which the canonical form (normalized numbers) does not see."""
    return hashlib.sha256("\n".join(map(repr, values)).encode()).hexdigest()


@pytest.fixture(scope="module")
def scenario() -> tuple[Codec, list[tuple[str, int, bytes]]]:
    codec = Codec(InMemoryRegistry())
    settings = StreamsSettings()
    with localcontext(Context()):  # the books are built with Decimal arithmetic too
        pool = MarketPool(codec, 20)
        values = [
            (settings.md_sequenced, offset, codec.encode(batch, STREAM_BATCH))
            for offset, batch in enumerate(_batches(pool, 0, EVENTS))
        ]
    return codec, values


def test_outputs_and_state_equal_the_golden_ones(
    scenario: tuple[Codec, list[tuple[str, int, bytes]]],
) -> None:
    codec, values = scenario
    settings = StreamsSettings()
    reducer = MarketReducer(settings.market)
    opportunities: list[object] = []
    spreads: list[object] = []
    for _topic, offset, raw in values:
        outcome = apply_market_batch(reducer, codec, codec.decode_as(raw, SequencedBatch), offset)
        assert not outcome.refused
        opportunities.extend(o for _asset, o in outcome.opportunities)
        spreads.extend(s for _asset, s in outcome.spreads.values())
    digest = state_digest(reducer.assets, RiskBook(settings.risk.control_state()))
    found = {
        "opportunities": (_hash(opportunities), len(opportunities)),
        "spreads": (_hash(spreads), len(spreads)),
        "digest": digest,
        "exact": _exact(
            [*opportunities, *spreads, *(reducer.assets[a].book for a in sorted(reducer.assets))]
        ),
    }
    assert found == GOLDEN


def test_the_offline_replay_rebuilds_the_golden_state(
    scenario: tuple[Codec, list[tuple[str, int, bytes]]],
) -> None:
    codec, values = scenario
    market, risk = replay(values, codec, StreamsSettings())
    assert state_digest(market.assets, risk.state) == GOLDEN["digest"]
