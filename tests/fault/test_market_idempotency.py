"""Idempotent market state: redelivered records leave the state digest unchanged.

Guard: :func:`processors.market_state.is_newer`, called by :meth:`MarketProcessor.apply` before
anything changes; a record not newer than the stored one for its instrument, by
``(event_time_ms, source_seq)``, is ignored. Oracle: :func:`streams.digest.state_digest` of the
market state.
"""

from __future__ import annotations

import random

import pytest

from benchmarks import synthetic as syn
from processors import market_state
from processors.market_state import MarketRecord
from processors.market_state import MarketReducer
from processors.risk_state import RiskBook
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from streams.digest import state_digest

pytestmark = pytest.mark.fault

SEED = 7
EVENTS = 300
CRASH_POINTS = (0, 1, 37, 150, 299)


def stream() -> list[MarketRecord]:
    """Books and funding of 5 assets on 3 venues (seeded random walks, fixed event times)."""
    return [record for _, record in syn.random_walk(EVENTS, seed=SEED)]


def applied(records: list[MarketRecord]) -> MarketReducer:
    reducer = MarketReducer(MarketSettings(min_eval_interval_ms=0))
    for record in records:
        reducer.apply(record)
    return reducer


def digest(reducer: MarketReducer) -> str:
    return state_digest(reducer.assets, RiskBook(RiskSettings().control_state()))


def redeliveries(records: list[MarketRecord]) -> dict[str, list[MarketRecord]]:
    """Batches an at-least-once consumer may see again after a crash, all already applied."""
    rng = random.Random(SEED)
    shuffled = [*records, *rng.sample(records, len(records))]
    batches = {f"from offset {k}": records[k:] for k in CRASH_POINTS}
    batches["reversed"] = records[::-1]
    batches[f"duplicated and shuffled (seed {SEED})"] = shuffled
    return batches


def test_redelivered_records_leave_the_digest_unchanged() -> None:
    print(f"seed={SEED} events={EVENTS}")
    records = stream()
    reference_state = applied(records)
    assert any(s.book.open for s in reference_state.assets.values())  # lifecycle in the digest
    reference = digest(reference_state)
    for name, batch in redeliveries(records).items():
        reducer = applied(records)
        results = [reducer.apply(record) for record in batch]
        assert not any(r.applied for r in results), name
        assert not any(r.opportunities or r.spreads for r in results), name
        assert digest(reducer) == reference, name


def test_twin_without_the_newer_check_a_redelivery_changes_the_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    print(f"seed={SEED} events={EVENTS}")
    records = stream()
    reference = digest(applied(records))
    monkeypatch.setattr(market_state, "is_newer", lambda record, stored: True)
    reducer = applied(records)
    assert digest(reducer) == reference  # in-order delivery alone does not need the guard
    # Every instrument's oldest record now arrives last and overwrites its newest one.
    for record in records[::-1]:
        reducer.apply(record)
    assert digest(reducer) != reference
