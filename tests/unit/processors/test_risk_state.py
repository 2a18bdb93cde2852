"""The pure risk reducer: ``apply(state, record) -> (state, applied)`` never changes its input.

A refused command or opportunity leaves the state it was given exactly as it was; a decision
returns a new state and keeps the old one. The twin plants a processor that moves the clock
before refusing, and the check must catch it.
"""

from __future__ import annotations

import copy

import pytest

from benchmarks import synthetic as syn
from processors.risk_state import RiskApplied
from processors.risk_state import RiskBook
from processors.risk_state import RiskInput
from processors.risk_state import RiskProcessor
from processors.settings import RiskSettings
from schemas.errors import InvalidEvent
from schemas.records.arb import Opportunity
from schemas.records.ops import ControlAction

T = 1_767_225_600_000
SYM = "AAA/USDT:USDT"


def _opened(asset: str) -> Opportunity:
    return syn.opened_divergence(asset, T)


def _state(processor: RiskProcessor) -> RiskBook:
    """One approved opportunity, one control command applied."""
    state = processor.initial()
    state, (_, decision) = processor.apply(state, _opened("AAA"))
    assert decision is not None
    state, _ = processor.apply(state, syn.control(ControlAction.KILL_SWITCH_RELEASE, T + 5))
    assert state.exposures
    assert state.last_control is not None
    return state


def _refuses_without_change(processor: RiskProcessor, state: RiskBook, record: RiskInput) -> bool:
    """Whether applying ``record`` raises and leaves ``state`` exactly as it was."""
    before = copy.deepcopy(state)
    try:
        processor.apply(state, record)
    except Exception:
        return state == before
    return False


def test_a_refused_command_leaves_the_given_state_as_it_was() -> None:
    processor = RiskProcessor(RiskSettings())
    state = _state(processor)
    bad = syn.control(ControlAction.LIMIT_CHANGE, T + 10, name="nope", value="1")
    with pytest.raises(InvalidEvent):
        processor.apply(state, bad)
    assert _refuses_without_change(processor, state, bad)


def test_a_refused_opportunity_leaves_the_given_state_as_it_was() -> None:
    processor = RiskProcessor(RiskSettings())
    state = _state(processor)
    opened = _opened("BBB")
    one_leg = opened.model_copy(update={"legs": opened.legs[:1]})
    with pytest.raises(InvalidEvent):
        processor.apply(state, one_leg)
    assert _refuses_without_change(processor, state, one_leg)


def test_a_decision_returns_a_new_state_and_keeps_the_old() -> None:
    processor = RiskProcessor(RiskSettings())
    state = _state(processor)
    before = copy.deepcopy(state)
    opened = _opened("BBB")
    after, (changed, decision) = processor.apply(state, opened)
    assert changed
    assert decision is not None
    assert opened.opportunity_id in after.decided
    assert state == before


class _ClockFirst(RiskProcessor):
    """The planted fault: advances the given state's clock, then decides."""

    def apply(self, state: RiskBook, record: RiskInput) -> tuple[RiskBook, RiskApplied]:
        state.clock_ms = max(state.clock_ms, record.envelope.event_time_ms)
        return super().apply(state, record)


def test_twin_a_reducer_that_moves_the_clock_before_refusing_is_caught() -> None:
    processor = _ClockFirst(RiskSettings())
    state = _state(RiskProcessor(RiskSettings()))
    bad = syn.control(ControlAction.LIMIT_CHANGE, T + 10_000, name="nope", value="1")
    assert not _refuses_without_change(processor, state, bad)
