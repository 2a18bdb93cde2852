"""The executor's position statements (``account.position``) set the risk book's positions.

The guard: a paper venue restarted with flat accounts leaves the previous session's fills in
the risk log; the executor's statement on start (flat in that instrument) ends them, so the next
opportunity on the same instruments is approved. Its twin (statements ignored, positions from
fills only) keeps rejecting it for the symbol limit, which is what a second ``make run`` on the
same stack did before the statements.
"""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.risk_state import RiskApplied
from processors.risk_state import RiskBook
from processors.risk_state import RiskInput
from processors.risk_state import RiskProcessor
from processors.units import InstrumentKey
from schemas.errors import InvalidEvent
from schemas.records.account import VenuePosition
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import PositionSide
from schemas.records.risk import RiskOutcome
from schemas.records.risk import RiskReasonCode
from tests.unit.processors.test_risk_positions import LIMITED
from tests.unit.processors.test_risk_positions import _again
from tests.unit.processors.test_risk_positions import _apply
from tests.unit.processors.test_risk_positions import _closed
from tests.unit.processors.test_risk_positions import _decide
from tests.unit.processors.test_risk_positions import _fills
from tests.unit.processors.test_risk_positions import _opened


def _statement(
    instrument: InstrumentRef,
    net: Decimal,
    tag: str = "",
    price: Decimal | None = Decimal(100),
) -> VenuePosition:
    side = PositionSide.FLAT if net == 0 else PositionSide.LONG if net > 0 else PositionSide.SHORT
    return VenuePosition(
        envelope=Envelope(
            event_id=f"statement-{instrument.exchange}-{instrument.symbol}-{tag}",
            event_time_ms=2,
            ingest_time_ms=2,
        ),
        instrument=instrument,
        side=side,
        size_base=abs(net),
        contract_size_base=Decimal(1),
        mark_price=price if net != 0 else None,
    )


class FillsOnly(RiskProcessor):
    """The twin: statements ignored (positions from fills only, as before statements)."""

    def apply(self, state: RiskBook, record: RiskInput) -> tuple[RiskBook, RiskApplied]:
        if isinstance(record, VenuePosition):
            return state, (False, None)
        return super().apply(state, record)


def _after_a_restarted_paper_session(processor: RiskProcessor) -> tuple[RiskBook, RiskOutcome]:
    """Session one fills the symbol limit and its opportunity closes; the executor of session
    two (its venues flat) states both instruments flat; then the next opportunity is judged."""
    first = _opened()
    state, decision = _decide(processor, processor.initial(), first)
    assert decision.outcome is RiskOutcome.APPROVED
    state = _apply(processor, state, *_fills(decision, decision.approved_size_base))
    state = _apply(processor, state, _closed(first, 10))
    _, held = _decide(processor, state, _again(first, 15))
    assert held.outcome is RiskOutcome.REJECTED  # the limit is full
    assert RiskReasonCode.SYMBOL_LIMIT_EXCEEDED in {r.code for r in held.reasons}
    flat = [_statement(leg.instrument, Decimal(0), "session-two") for leg in first.legs]
    state = _apply(processor, state, *flat)
    state, second = _decide(processor, state, _again(first, 20))
    return state, second.outcome


def test_a_flat_statement_ends_the_previous_sessions_positions() -> None:
    state, outcome = _after_a_restarted_paper_session(RiskProcessor(LIMITED))
    assert outcome is RiskOutcome.APPROVED
    assert state.positions == {}


def test_twin_ignoring_statements_keeps_rejecting_for_the_symbol_limit() -> None:
    _, outcome = _after_a_restarted_paper_session(FillsOnly(LIMITED))
    assert outcome is RiskOutcome.REJECTED


def test_a_statement_is_applied_once_and_never_moves_the_clock() -> None:
    processor = RiskProcessor(LIMITED)
    first = _opened()
    state, _ = _decide(processor, processor.initial(), first)
    clock = state.clock_ms
    statement = _statement(first.legs[0].instrument, Decimal(4))
    once, (changed, _) = processor.apply(state, statement)
    assert changed
    assert once.clock_ms == clock
    key = InstrumentKey(first.legs[0].instrument.exchange, first.legs[0].instrument.symbol)
    assert once.positions[key].net_size_base == 4
    # a fill after it moves the stated position; the statement redelivered changes nothing
    fill = _fills(_decide(processor, once, _again(first, 5))[1], Decimal(1))[0]
    moved = _apply(processor, once, fill)
    again, (changed, _) = processor.apply(moved, statement)
    assert not changed
    assert again is moved


def test_a_bad_statement_is_refused_and_changes_nothing() -> None:
    processor = RiskProcessor(LIMITED)
    first = _opened()
    state, _ = _decide(processor, processor.initial(), first)
    before = copy.deepcopy(state)
    instrument = first.legs[0].instrument
    bad_side = _statement(instrument, Decimal(3)).model_copy(update={"side": PositionSide.FLAT})
    no_price = _statement(instrument, Decimal(3), price=None)
    unknown = _statement(instrument, Decimal(3)).model_copy(update={"side": PositionSide.UNKNOWN})
    for bad in (bad_side, no_price, unknown):
        with pytest.raises(InvalidEvent):
            processor.apply(state, bad)
    assert state == before


@given(
    fills=st.lists(st.integers(min_value=-50, max_value=50).filter(bool), max_size=8),
    stated=st.integers(min_value=-100, max_value=100),
    later=st.lists(st.integers(min_value=-50, max_value=50).filter(bool), max_size=8),
)
def test_the_position_is_the_statement_plus_the_fills_after_it(
    fills: list[int], stated: int, later: list[int]
) -> None:
    processor = RiskProcessor(LIMITED)
    first = _opened()
    state, decision = _decide(processor, processor.initial(), first)
    instrument = first.legs[0].instrument
    key = InstrumentKey(instrument.exchange, instrument.symbol)
    template = _fills(decision, Decimal(1))[0]

    def fill(n: int, tag: str) -> RiskInput:
        side = template.side if n > 0 else ("SELL" if template.side.value == "BUY" else "BUY")
        return template.model_copy(
            update={"fill_id": f"f{tag}", "size_base": Decimal(abs(n)), "side": side}
        )

    sign = 1 if template.side.value == "BUY" else -1
    state = _apply(processor, state, *(fill(n * sign, f"a{i}") for i, n in enumerate(fills)))
    state = _apply(processor, state, _statement(instrument, Decimal(stated)))
    state = _apply(processor, state, *(fill(n * sign, f"b{i}") for i, n in enumerate(later)))
    want = stated + sum(later)
    held = state.positions.get(key)
    assert (held.net_size_base if held is not None else 0) == want
