"""The pure market reducer: ``apply(state, record) -> (state, applied)`` never changes its input.

A refused record (bad input, or an evaluation that fails) leaves the state it was given exactly
as it was, caches included; an accepted one returns a new state. The twin plants a processor
that writes the record into the state before refusing, and the check must catch it.
"""

from __future__ import annotations

import copy
from dataclasses import astuple

import pytest

from benchmarks import synthetic as syn
from processors import market_state
from processors.market_state import AssetState
from processors.market_state import MarketProcessor
from processors.market_state import MarketRecord
from processors.market_state import record_key
from processors.settings import MarketSettings
from schemas.errors import InvalidEvent
from schemas.fixed_point import book_snapshot
from schemas.records.md import BookSnapshot

T = 1_767_225_600_000
SYM = "AAA/USDT:USDT"


def _state(processor: MarketProcessor) -> AssetState:
    """An asset with books and funding on two venues, one opportunity open, views cached."""
    state = AssetState()
    for record in (
        syn.funding("ex-a", SYM, "0.0001", T, 1),
        syn.funding("ex-b", SYM, "0.002", T, 1),
        syn.book("ex-a", SYM, "100", T + 1, 1),
        syn.book("ex-b", SYM, "100", T + 2, 1),
    ):
        state, _ = processor.apply(state, record)
    processor.view(state)
    assert state.book.open
    assert state.views
    return state


def _emptied(record: BookSnapshot) -> BookSnapshot:
    """``record`` with no levels on either side (refused as EMPTY_BOOK)."""
    return book_snapshot(
        envelope=record.envelope,
        instrument=record.instrument,
        depth=record.depth,
        bids=(),
        asks=(),
    )


def _refuses_without_change(
    processor: MarketProcessor, state: AssetState, record: MarketRecord
) -> bool:
    """Whether applying ``record`` raises and leaves ``state`` exactly as it was."""
    before = copy.deepcopy(astuple(state))
    try:
        processor.apply(state, record)
    except Exception:
        return copy.deepcopy(astuple(state)) == before
    return False


def test_a_refused_book_leaves_the_given_state_as_it_was() -> None:
    processor = MarketProcessor(MarketSettings(min_eval_interval_ms=0))
    state = _state(processor)
    bad = _emptied(syn.book("ex-a", SYM, "101", T + 10, 2))
    with pytest.raises(InvalidEvent):
        processor.apply(state, bad)
    assert _refuses_without_change(processor, state, bad)


def test_a_failing_evaluation_leaves_the_given_state_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    processor = MarketProcessor(MarketSettings(min_eval_interval_ms=0))
    state = _state(processor)

    def fails(*args: object) -> None:
        raise ArithmeticError("planted")

    monkeypatch.setattr(market_state, "step", fails)
    moved = syn.book("ex-a", SYM, "101", T + 10, 2)
    assert _refuses_without_change(processor, state, moved)


def test_an_accepted_record_returns_a_new_state_and_keeps_the_old() -> None:
    processor = MarketProcessor(MarketSettings(min_eval_interval_ms=0))
    state = _state(processor)
    before = copy.deepcopy(astuple(state))
    moved = syn.book("ex-a", SYM, "101", T + 10, 2)
    after, applied = processor.apply(state, moved)
    assert applied.applied
    assert applied.evaluated
    assert after.records[record_key(moved)] == moved
    assert copy.deepcopy(astuple(state)) == before


class _WritesFirst(MarketProcessor):
    """The planted fault: stores the record in the given state, then checks it."""

    def apply(
        self, state: AssetState, record: MarketRecord
    ) -> tuple[AssetState, market_state.MarketApplied]:
        state.records[record_key(record)] = record
        return super().apply(state, record)


def test_twin_a_reducer_that_writes_before_refusing_is_caught() -> None:
    processor = _WritesFirst(MarketSettings(min_eval_interval_ms=0))
    state = _state(MarketProcessor(MarketSettings(min_eval_interval_ms=0)))
    bad = _emptied(syn.book("ex-a", SYM, "101", T + 10, 2))
    assert not _refuses_without_change(processor, state, bad)
