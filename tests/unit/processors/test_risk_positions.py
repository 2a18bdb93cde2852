"""Risk exposure from the executor's positions (``exec.fill``), plus approvals still in flight.

The guard: a position that outlives its approval (the opportunity closed, the executor has not
closed its legs yet) still counts, so the next opportunity on the same instrument is rejected
for exposure. Its twin (exposure from approvals only, as before fills were read) approves it.
"""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from benchmarks import synthetic as syn
from processors.risk_state import RiskApplied
from processors.risk_state import RiskBook
from processors.risk_state import RiskInput
from processors.risk_state import RiskProcessor
from processors.settings import RiskSettings
from processors.units import InstrumentKey
from schemas.errors import InvalidEvent
from schemas.records.arb import CloseReason
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.common import Envelope
from schemas.records.common import Money
from schemas.records.common import Side
from schemas.records.execution import Fill
from schemas.records.execution import LiquidityRole
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.records.risk import RiskReasonCode
from schemas.records.state import RiskState

T = 1_767_225_600_000
LIMITED = RiskSettings(max_symbol_notional_quote=Decimal(1_000))
"""At the opportunities' price of 100, one instrument may carry 10 base."""


def _opened(asset: str = "AAA") -> Opportunity:
    return syn.opened_divergence(asset, T)


def _again(opened: Opportunity, n: int) -> Opportunity:
    """Another opportunity on the same instruments, ``n`` ms later."""
    env = opened.envelope.model_copy(
        update={"event_id": f"{opened.envelope.event_id}-{n}", "event_time_ms": T + 2 + n}
    )
    legs = tuple(leg.model_copy(update={"quote_time_ms": T + 2 + n}) for leg in opened.legs)
    return opened.model_copy(
        update={"opportunity_id": f"{opened.opportunity_id}-{n}", "envelope": env, "legs": legs}
    )


def _closed(opened: Opportunity, n: int) -> Opportunity:
    env = opened.envelope.model_copy(
        update={"event_id": f"{opened.envelope.event_id}-closed", "event_time_ms": T + 2 + n}
    )
    return opened.model_copy(
        update={
            "lifecycle": Lifecycle.CLOSED,
            "close_reason": CloseReason.SPREAD_CONVERGED,
            "envelope": env,
        }
    )


def _fills(decision: RiskDecision, size: Decimal, tag: str = "") -> list[Fill]:
    """The executor's fills of both legs of ``decision`` (``correlation_id``: its signal)."""
    out = []
    for i, leg in enumerate(decision.legs):
        fid = f"fill-{decision.decision_id}-{i}{tag}"
        out.append(
            Fill(
                envelope=Envelope(
                    event_id=fid,
                    event_time_ms=1,  # the executor's clock: far behind, never the risk clock
                    ingest_time_ms=1,
                    correlation_id=decision.decision_id,
                ),
                fill_id=fid,
                client_order_id=f"cid-{i}",
                instrument=leg.instrument,
                side=leg.side,
                price=Decimal(100),
                size_base=size,
                fee=Money(amount=Decimal(0), currency="USDT"),
                liquidity=LiquidityRole.TAKER,
            )
        )
    return out


def _apply(processor: RiskProcessor, state: RiskBook, *records: RiskInput) -> RiskBook:
    for record in records:
        state, _ = processor.apply(state, record)
    return state


def _decide(
    processor: RiskProcessor, state: RiskBook, opened: Opportunity
) -> tuple[RiskBook, RiskDecision]:
    state, (_, decision) = processor.apply(state, opened)
    assert decision is not None
    return state, decision


def _held_after_close(processor: RiskProcessor) -> RiskDecision:
    """Approve, fill in full, close the opportunity (its legs still held), then judge the next
    opportunity on the same instruments."""
    first = _opened()
    state, decision = _decide(processor, processor.initial(), first)
    assert decision.outcome is RiskOutcome.APPROVED
    size = decision.approved_size_base
    state = _apply(processor, state, *_fills(decision, size), _closed(first, 10))
    _, second = _decide(processor, state, _again(first, 20))
    return second


class ApprovalsOnly(RiskProcessor):
    """The twin: exposure from approvals only (fills ignored, as before positions were read)."""

    def apply(self, state: RiskBook, record: RiskInput) -> tuple[RiskBook, RiskApplied]:
        if isinstance(record, Fill):
            return state, (False, None)
        return super().apply(state, record)


def test_a_position_outliving_its_approval_rejects_the_next_opportunity_for_exposure() -> None:
    second = _held_after_close(RiskProcessor(LIMITED))
    assert second.outcome is RiskOutcome.REJECTED
    assert RiskReasonCode.SYMBOL_LIMIT_EXCEEDED in {r.code for r in second.reasons}


def test_twin_exposure_from_approvals_only_approves_it() -> None:
    second = _held_after_close(ApprovalsOnly(LIMITED))
    assert second.outcome is RiskOutcome.APPROVED  # the held legs are invisible to it


def test_a_burst_of_approvals_counts_before_any_fill_lands() -> None:
    processor = RiskProcessor(LIMITED)
    first = _opened()
    state, one = _decide(processor, processor.initial(), first)
    assert one.outcome is RiskOutcome.APPROVED
    _, two = _decide(processor, state, _again(first, 5))  # no fill yet
    assert two.outcome is RiskOutcome.REJECTED
    assert RiskReasonCode.SYMBOL_LIMIT_EXCEEDED in {r.code for r in two.reasons}


def test_a_filled_approval_counts_once_as_a_position() -> None:
    processor = RiskProcessor(RiskSettings(max_symbol_notional_quote=Decimal(2_000)))
    first = _opened()
    state, decision = _decide(processor, processor.initial(), first)
    size = decision.approved_size_base
    half = size / 2
    state = _apply(processor, state, *_fills(decision, half))
    ((_, notional, _), _) = state.exposures[first.opportunity_id]
    assert notional == half * 100  # in flight: what the fills have not made a position
    state = _apply(processor, state, *_fills(decision, size - half, tag="b"))
    legs = state.exposures[first.opportunity_id]
    assert [n for _, n, _ in legs] == [0, 0]
    key = InstrumentKey(first.legs[0].instrument.exchange, first.legs[0].instrument.symbol)
    assert state.positions[key].notional == size * 100
    portfolio = processor._portfolio(state)
    assert portfolio.exposures_quote[key] == size * 100  # not twice


def test_a_fill_is_applied_once_and_never_moves_the_clock() -> None:
    processor = RiskProcessor(LIMITED)
    state, decision = _decide(processor, processor.initial(), _opened())
    clock = state.clock_ms
    fills = _fills(decision, Decimal(1))
    once = _apply(processor, state, *fills)
    twice, (changed, _) = processor.apply(once, fills[0])
    assert not changed
    assert twice is once
    assert once.clock_ms == clock
    nets = sorted(h.net_size_base for h in once.positions.values())
    assert nets == [Decimal(-1), Decimal(1)]  # long one venue, short the other


def test_closing_fills_flatten_the_position() -> None:
    processor = RiskProcessor(LIMITED)
    state, decision = _decide(processor, processor.initial(), _opened())
    state = _apply(processor, state, *_fills(decision, Decimal(3)))
    closing = [
        f.model_copy(
            update={
                "fill_id": f.fill_id + "-close",
                "side": Side.SELL if f.side is Side.BUY else Side.BUY,
            }
        )
        for f in _fills(decision, Decimal(3))
    ]
    assert _apply(processor, state, *closing).positions == {}


def test_a_bad_fill_is_refused_and_changes_nothing() -> None:
    processor = RiskProcessor(LIMITED)
    state, decision = _decide(processor, processor.initial(), _opened())
    before = copy.deepcopy(state)
    bad = _fills(decision, Decimal(1))[0].model_copy(update={"size_base": Decimal(0)})
    with pytest.raises(InvalidEvent):
        processor.apply(state, bad)
    assert state == before


def test_positions_and_fills_survive_the_state_record() -> None:
    processor = RiskProcessor(LIMITED)
    state, decision = _decide(processor, processor.initial(), _opened())
    state = _apply(processor, state, *_fills(decision, Decimal("2.5")))
    record = state.to_record()
    assert isinstance(record, RiskState)
    restored = RiskBook.from_record(record)
    assert restored == state
    assert restored.fills.maxlen == state.fills.maxlen
