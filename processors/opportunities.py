"""The opportunity lifecycle: a deterministic state machine over market views.

``step(state, view, now_ms, config) -> (state, events)`` re-evaluates every open opportunity,
closes those that meet a close reason, updates the others when their figures changed, then
opens new candidates that pass the open thresholds, best net APR first, up to ``max_open``.

Hysteresis: an opportunity opens only when its net edge is at or above *both* open thresholds
(bps over the horizon and APR), and closes only when it falls below *either* exit threshold,
which are lower; an edge moving inside the band neither opens nor closes anything.

Close reasons (``arb.CloseReason``; all that apply are listed, in this order): ``STALE_DATA`` (a
leg's quote is older than ``stale_after_ms`` at ``now_ms``, or the leg left the view),
``EXPIRED`` (held ``max_holding_ms``), ``FUNDING_FLIPPED`` (carry types: the net funding carry
changed sign against the direction held), ``NO_LIQUIDITY`` (the legs cannot be sized any more),
``EDGE_BELOW_THRESHOLD`` (below an exit threshold).

Ids are ``uuid5`` over type, legs and open time, so a replay produces the same ids.

Every evaluation the book keeps is fitted to decimal(38, 18) (:func:`processors.units.persistable`)
before it is compared or stored: the book is persisted as an Avro record, and a restored book
must equal the one that was saved (otherwise a restart would see an "update" the uninterrupted
run does not). Events carry the fitted figures, the ones the ``arb.opportunity`` record rounds
to anyway; a figure the record derives (``net_apr_bps`` = APR x 10 000, sums of costs) is
computed from the fitted ones, a difference below 1e-14.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from dataclasses import replace

from processors.detection import Candidate
from processors.detection import DetectionConfig
from processors.detection import Evaluation
from processors.detection import MarketView
from processors.detection import detect
from processors.detection import evaluate
from processors.detection import id_name
from processors.units import MS_PER_HOUR
from processors.units import persistable
from schemas.records.arb import CloseReason
from schemas.records.arb import Lifecycle
from schemas.records.arb import SpreadKind

OPPORTUNITY_NAMESPACE = uuid.UUID("6f1d2c1e-8b0a-5c3e-9d7f-2a4b6c8d0e1f")


def opportunity_id(candidate: Candidate, opened_at_ms: int) -> str:
    name = f"{id_name(candidate.type)}|{candidate.long}|{candidate.short}|{opened_at_ms}"
    return str(uuid.uuid5(OPPORTUNITY_NAMESPACE, name))


@dataclass(frozen=True, slots=True)
class TrackedOpportunity:
    """Derived lifecycle state: one open entry of the :class:`OpportunityBook` with the
    evaluation it was last published with; the events it produces become ``arb.opportunity``
    records (:func:`processors.records.opportunity_record`); it is stored as the
    ``state.OpenOpportunity`` record (:mod:`processors.snapshots`)."""

    id: str
    candidate: Candidate
    opened_at_ms: int
    updated_at_ms: int
    evaluation: Evaluation
    carry_sign_at_open: int


@dataclass(frozen=True, slots=True)
class OpportunityEvent:
    kind: Lifecycle
    opportunity: TrackedOpportunity
    at_ms: int
    reasons: tuple[CloseReason, ...] = ()

    @property
    def reason(self) -> CloseReason | None:
        return self.reasons[0] if self.reasons else None


@dataclass(frozen=True, slots=True)
class OpportunityBook:
    """Open opportunities, sorted by id (a canonical order for digests)."""

    open: tuple[TrackedOpportunity, ...] = ()


def _stale(candidate: Candidate, view: MarketView, now_ms: int, config: DetectionConfig) -> bool:
    for key in (candidate.long, candidate.short):
        state = view.get(key)
        if state is None or now_ms - state.book.ts_ms > config.stale_after_ms:
            return True
    return False


def _below_exit(evaluation: Evaluation, candidate: Candidate, config: DetectionConfig) -> bool:
    t = config.thresholds[candidate.type]
    return evaluation.net_edge_bps < t.exit_net_bps or evaluation.net_edge_apr < t.exit_net_apr


def close_reasons(
    opp: TrackedOpportunity,
    evaluation: Evaluation | None,
    view: MarketView,
    now_ms: int,
    config: DetectionConfig,
) -> tuple[CloseReason, ...]:
    reasons: list[CloseReason] = []
    if _stale(opp.candidate, view, now_ms, config):
        reasons.append(CloseReason.STALE_DATA)
    if now_ms - opp.opened_at_ms >= config.max_holding_ms:
        reasons.append(CloseReason.EXPIRED)
    carry = opp.candidate.type is not SpreadKind.CROSS_EXCHANGE_PRICE
    if carry and evaluation is not None and evaluation.carry_sign * opp.carry_sign_at_open < 0:
        reasons.append(CloseReason.FUNDING_FLIPPED)
    if evaluation is None:
        if CloseReason.STALE_DATA not in reasons:
            reasons.append(CloseReason.NO_LIQUIDITY)
    elif _below_exit(evaluation, opp.candidate, config):
        reasons.append(CloseReason.EDGE_BELOW_THRESHOLD)
    return tuple(reasons)


def opens(candidate: Candidate, evaluation: Evaluation, config: DetectionConfig) -> bool:
    """Whether a fresh candidate passes the open thresholds and the break-even bound."""
    t = config.thresholds[candidate.type]
    if evaluation.net_edge_bps < t.open_net_bps or evaluation.net_edge_apr < t.open_net_apr:
        return False
    if candidate.type is SpreadKind.CROSS_EXCHANGE_PRICE:
        return True
    hours = evaluation.costs.break_even_hours
    return hours is not None and hours * MS_PER_HOUR <= config.max_holding_ms


def step(
    state: OpportunityBook, view: MarketView, now_ms: int, config: DetectionConfig
) -> tuple[OpportunityBook, list[OpportunityEvent]]:
    events: list[OpportunityEvent] = []
    kept: list[TrackedOpportunity] = []
    for opp in state.open:
        evaluation = persistable(evaluate(opp.candidate, view, now_ms, config))
        reasons = close_reasons(opp, evaluation, view, now_ms, config)
        if reasons or evaluation is None:  # no evaluation always yields a reason
            closed = replace(opp, updated_at_ms=now_ms, evaluation=evaluation or opp.evaluation)
            events.append(OpportunityEvent(Lifecycle.CLOSED, closed, now_ms, reasons))
            continue
        if evaluation != opp.evaluation:
            opp = replace(opp, evaluation=evaluation, updated_at_ms=now_ms)
            events.append(OpportunityEvent(Lifecycle.UPDATED, opp, now_ms))
        kept.append(opp)
    taken = {o.candidate.pair_key for o in kept}
    fresh: list[tuple[Candidate, Evaluation]] = []
    for candidate in detect(view, config):
        if candidate.pair_key in taken or _stale(candidate, view, now_ms, config):
            continue
        evaluation = evaluate(candidate, view, now_ms, config)
        if evaluation is not None and opens(candidate, evaluation, config):
            fresh.append((candidate, evaluation))
    fresh.sort(key=lambda ce: (-ce[1].net_edge_apr, ce[0]))
    for candidate, evaluation in fresh[: max(config.max_open - len(kept), 0)]:
        if candidate.pair_key in taken:
            continue
        taken.add(candidate.pair_key)
        opp = TrackedOpportunity(
            id=opportunity_id(candidate, now_ms),
            candidate=candidate,
            opened_at_ms=now_ms,
            updated_at_ms=now_ms,
            evaluation=persistable(evaluation),
            carry_sign_at_open=evaluation.carry_sign,
        )
        kept.append(opp)
        events.append(OpportunityEvent(Lifecycle.OPENED, opp, now_ms))
    return OpportunityBook(tuple(sorted(kept, key=lambda o: o.id))), events
