"""Risk decides once: a redelivered OPENED opportunity gets no second decision.

Guard: the ``oid in state.decided`` check of :meth:`RiskReducer._opportunity` (``decided`` is
part of the persisted :class:`RiskBook`, so it survives a crash and a changelog restore).
Oracles: the count of ``risk.decision`` records per opportunity (exactly 1) and the approved
notional per opportunity summed over published decisions (what an executor without its own
dedupe would trade). The state digest is asserted unchanged by a redelivery, but it is *not*
an oracle for this guarantee: without the guard the repeated decision is byte-identical and
its exposure is re-keyed by opportunity id, so the digest cannot see the fault (the twin
prints both digests); only the output count can.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from benchmarks import synthetic as syn
from processors.risk_state import RiskBook
from processors.risk_state import RiskReducer
from processors.settings import RiskSettings
from schemas.codec import Codec
from schemas.records.arb import Opportunity
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.records.state import RiskState
from schemas.registry import InMemoryRegistry
from schemas.topics import STATE_RISK
from streams.digest import state_digest

pytestmark = pytest.mark.fault

T = 1_767_225_600_000
CODEC = Codec(InMemoryRegistry())


def opened(asset: str) -> Opportunity:
    """The OPENED event of a perp-perp funding divergence on ``asset``."""
    return syn.opened_divergence(asset, T)


def restart(state: RiskBook) -> RiskBook:
    """The state a restarted worker restores: its record through the codec and back."""
    value = CODEC.encode(state.to_record(), STATE_RISK)  # what the risk table's changelog holds
    return RiskBook.from_record(CODEC.decode_as(value, RiskState))


class ForgetfulDecisions(dict[str, str]):
    """The planted fault: ``decided`` still records decisions but never reports one."""

    def __contains__(self, key: object) -> bool:
        return False


def run(
    redelivered: list[Opportunity], *, disable_guard: bool = False
) -> tuple[list[RiskDecision], RiskReducer, str, str]:
    """Decide the stream, crash (changelog restore), redeliver; (decisions, reducer, digests)."""
    settings = RiskSettings()
    first = RiskReducer(settings)
    stream = [opened("AAA"), opened("BBB")]
    decisions = [d for o in stream if (d := first.apply(o)[1]) is not None]
    before = state_digest({}, first.state)
    restored = restart(first.state)
    if disable_guard:
        restored.decided = ForgetfulDecisions(restored.decided)
    second = RiskReducer(settings, restored)
    decisions += [d for o in redelivered if (d := second.apply(o)[1]) is not None]
    return decisions, second, before, state_digest({}, second.state)


def approved_notional(decisions: list[RiskDecision]) -> dict[str, Decimal]:
    """Approved notional per opportunity, summed over every published decision."""
    out: dict[str, Decimal] = {}
    for d in decisions:
        if d.outcome is RiskOutcome.APPROVED:
            oid = d.opportunity_id
            out[oid] = out.get(oid, Decimal(0)) + d.approved_notional_quote
    return out


def test_a_redelivered_opening_is_decided_once() -> None:
    a, b = opened("AAA"), opened("BBB")
    decisions, reducer, before, after = run([a, b, a])
    assert Counter(d.opportunity_id for d in decisions) == {
        a.opportunity_id: 1,
        b.opportunity_id: 1,
    }
    assert all(d.outcome is RiskOutcome.APPROVED for d in decisions)
    notional = approved_notional(decisions)
    assert notional[a.opportunity_id] > 0
    assert set(reducer.state.exposures) == {a.opportunity_id, b.opportunity_id}
    assert after == before


def test_twin_without_the_decided_guard_a_redelivery_is_decided_again() -> None:
    a, b = opened("AAA"), opened("BBB")
    once, _, _, _ = run([])
    decisions, _, before, after = run([a, b, a], disable_guard=True)
    counts = Counter(d.opportunity_id for d in decisions)
    print(f"decisions={dict(counts)} notional={dict(approved_notional(decisions))}")
    assert counts[a.opportunity_id] == 3
    assert counts[b.opportunity_id] == 2
    single = approved_notional(once)[a.opportunity_id]
    assert single > 0
    assert approved_notional(decisions)[a.opportunity_id] == 3 * single
    print(f"state digest before={before[:12]} after={after[:12]} (blind to this fault)")
