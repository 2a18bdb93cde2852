"""Equivalence: the batched hot path gives what the stream core gave before it.

``tests/fixtures/equivalence/scenarios.json.gz`` holds the opportunities and decisions of fixed
scenarios recorded on the one-record-at-a-time stream core (see ``record.py`` beside it). Here
the same events go the new way: Avro-encoded, packed into sequenced batches, applied by the
agents' batch boundary (:mod:`streams.batches`), opportunities fed to risk batch by batch.

Same ids, same lifecycle, same legs, same decisions, at every batch size. Figures are equal as
numbers, with one written difference: evaluation figures are now quantized to 18 decimal places
where they are produced (so the stored state round-trips exactly through decimal(38,18)); a
figure derived from them (APR in bps = APR x 10^4) keeps 14 places, so it may differ from the
old one by less than 1e-13 bps.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from processors.market_state import MarketReducer
from processors.risk_state import RiskReducer
from schemas.codec import Codec
from schemas.registry import InMemoryRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import STREAM_BATCH
from streams.batches import apply_market_batch
from streams.batches import apply_risk_batch
from streams.sequencer import BatchBuilder
from tests.fixtures.equivalence.record import decision_row
from tests.fixtures.equivalence.record import events
from tests.fixtures.equivalence.record import opportunity_row
from tests.fixtures.equivalence.record import settings

RECORDED = Path(__file__).parents[2] / "fixtures" / "equivalence" / "scenarios.json.gz"
QUANTIZED = {"net_apr_bps"}
"""Figures derived from 18-place evaluation figures (see the module doc)."""


def _batched(name: str, batch_size: int) -> dict[str, list[dict[str, Any]]]:
    s = settings(name)
    codec = Codec(InMemoryRegistry())
    market, risk = MarketReducer(s.market), RiskReducer(s.risk)
    opportunities, decisions = [], []
    items = events(name)
    for start in range(0, len(items), batch_size):
        md = BatchBuilder()
        for offset, (topic, record) in enumerate(items[start : start + batch_size], start):
            md.add(topic, 0, offset, 0, b"", codec.encode(record, topic))
        batch = codec.decode(codec.encode(md.build(), STREAM_BATCH))
        outcome = apply_market_batch(market, codec, batch, start)  # type: ignore[arg-type]
        assert not outcome.refused
        rk = BatchBuilder()
        for offset, (_asset, o) in enumerate(outcome.opportunities):
            opportunities.append(opportunity_row(o))
            rk.add(ARB_OPPORTUNITY, 0, offset, 0, b"", codec.encode(o, ARB_OPPORTUNITY))
        decided = apply_risk_batch(risk, codec, rk.build())
        assert not decided.refused
        decisions += [decision_row(d) for d in decided.decisions]
    return {"opportunities": opportunities, "decisions": decisions}


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    with gzip.open(RECORDED, "rt") as f:
        document: dict[str, Any] = json.load(f)
    return document


def _same_figures(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in old.items():
        if key in QUANTIZED:
            if abs(Decimal(value) - Decimal(new[key])) >= Decimal("1E-13"):
                problems.append(f"{key}: {value} -> {new[key]}")
        elif key in {"net_edge_bps", "gross_edge_bps", "max_size_base", "total_cost_quote"}:
            if Decimal(value) != Decimal(new[key]):
                problems.append(f"{key}: {value} -> {new[key]}")
        elif value != new[key]:
            problems.append(f"{key}: {value!r} -> {new[key]!r}")
    return problems


def _decimal_size(decision: dict[str, Any]) -> dict[str, Any]:
    return {**decision, "size_base": Decimal(decision["size_base"])}


@pytest.mark.parametrize(
    ("name", "batch_size"),
    [("random_walk_3000", 1), ("random_walk_3000", 1000), ("random_walk_3000_eval0", 97)],
)
def test_the_batched_path_gives_the_recorded_opportunities_and_decisions(
    recorded: dict[str, Any], name: str, batch_size: int
) -> None:
    want, got = recorded[name], _batched(name, batch_size)
    assert len(got["opportunities"]) == len(want["opportunities"])
    for old, new in zip(want["opportunities"], got["opportunities"], strict=True):
        assert not _same_figures(old, new), (old["event_id"], _same_figures(old, new))
    assert [_decimal_size(d) for d in got["decisions"]] == [
        _decimal_size(d) for d in want["decisions"]
    ]
    assert len(want["decisions"]) > 50
