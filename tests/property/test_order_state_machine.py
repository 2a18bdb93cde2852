"""Properties of the order reducer over random report sequences."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from processors.orders import TERMINAL
from processors.orders import Ambiguous
from processors.orders import FillDelta
from processors.orders import NotFound
from processors.orders import NotSent
from processors.orders import OrderState
from processors.orders import Refused
from processors.orders import Report
from processors.orders import Sent
from processors.orders import StatusChanged
from processors.orders import VenueReport
from processors.orders import apply
from processors.orders import new_order
from schemas.records.execution import OrderStatus as S

D = Decimal
AFTER_SEND = {S.ACCEPTED, S.PARTIALLY_FILLED, *TERMINAL}
EDGES = {
    (S.NEW, S.SUBMITTED),
    (S.NEW, S.REJECTED),
    (S.SUBMITTED, S.OUTCOME_UNKNOWN),
    *((S.SUBMITTED, s) for s in AFTER_SEND),
    *((S.OUTCOME_UNKNOWN, s) for s in AFTER_SEND),
    *((S.ACCEPTED, s) for s in {S.PARTIALLY_FILLED, *TERMINAL}),
    *((S.PARTIALLY_FILLED, s) for s in TERMINAL - {S.REJECTED}),
}
"""Every status change the reducer may make; nothing leaves a terminal state."""

sizes = st.decimals(min_value=D("0.001"), max_value=D(1000), places=3)
fractions = st.sampled_from([D(0), D("0.25"), D("0.5"), D("0.75"), D(1), D("1.1")])
prices = st.sampled_from([None, D(0), D(90), D(100), D("100.5"), D(110)])
venue_ids = st.sampled_from([None, "v1", "v2"])


def reports(size: Decimal) -> st.SearchStrategy[Report]:
    venue = st.builds(
        VenueReport,
        st.sampled_from(list(S)),
        fractions.map(lambda f: f * size),
        prices,
        venue_ids,
    )
    return st.one_of(
        st.just(Sent()),
        st.builds(NotSent, st.sampled_from(["no route", "bad key"])),
        st.builds(Ambiguous, st.sampled_from(["timeout", "502"])),
        st.just(NotFound()),
        venue,
        venue,
        venue,
    )


@st.composite
def runs(draw: st.DrawFn) -> tuple[OrderState, list[Report]]:
    size = draw(sizes)
    prefix = draw(st.sampled_from([[], [Sent()]]))
    return new_order("c" * 32, size), prefix + draw(st.lists(reports(size), max_size=40))


@settings(max_examples=400)
@given(runs())
def test_invariants_hold_over_any_report_sequence(run: tuple[OrderState, list[Report]]) -> None:
    state, sequence = run
    filled = D(0)
    notional = D(0)
    sends = 0
    for report in sequence:
        before = state
        state, outputs = apply(state, report)
        refused = [o for o in outputs if isinstance(o, Refused)]
        if refused:
            assert state == before  # a refusal changes nothing
            assert len(outputs) == 1
        if before.status in TERMINAL:
            assert state == before  # terminal states absorb
        if isinstance(report, Sent) and before.status is not S.NEW:
            assert refused  # never a resend
        if isinstance(report, Sent) and not refused:
            sends += 1
        if isinstance(report, Ambiguous | NotFound):
            assert state.status is not S.REJECTED or before.status is S.REJECTED
        # filled is monotone and bounded by the size
        assert before.filled_base <= state.filled_base <= state.size_base
        # every status change is an allowed edge and is reported exactly once
        changes = [o for o in outputs if isinstance(o, StatusChanged)]
        if state.status is before.status:
            assert changes == []
        else:
            assert changes == [StatusChanged(before.status, state.status)]
            assert (before.status, state.status) in EDGES
        for fill in (o for o in outputs if isinstance(o, FillDelta)):
            assert fill.size_base > 0
            assert fill.notional_quote > 0
            filled += fill.size_base
            notional += fill.notional_quote
        # the fills emitted add up to the state, exactly
        assert filled == state.filled_base
        assert notional == state.filled_notional_quote
        if state.status is S.FILLED:
            assert state.filled_base == state.size_base
        if state.status is S.REJECTED:
            assert state.filled_base == 0
        # the same venue report right again is a no-op
        if isinstance(report, VenueReport) and not refused:
            assert apply(state, report) == (state, ())
    assert sends <= 1
