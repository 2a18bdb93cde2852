"""Two-leg coordination: a pure reducer from an approved decision to a hedged (or unwound) pair.

The pair is one :class:`~schemas.records.execution.PairUpdate` record, the same record the
executor stores and publishes on ``exec.pair``. :func:`open_pair` builds it from a
``RiskDecision``; :func:`apply` takes the pair and one :class:`OrderSettled` or
:class:`CloseRequested` and returns the next pair and the orders to submit
(:class:`~schemas.records.execution.SubmitOrder` records, each with its deterministic client
order id). Nothing here does I/O or reads a clock: times come in with the events.

Policy (``PairPolicy``):

- Leg 0 enters first with the target size: the approved size rounded down to both legs' lots
  (``processors.lots``), or the pair is ``REJECTED`` when no tradable size meets both venues'
  minimums.
- The hedge (leg 1) is sized from leg 0's *actual* fill, rounded down to leg 1's lot. A hedge
  that fills short is retried for the rest up to ``max_hedge_retries`` times; then what is not
  hedged is **unwound** on leg 0 (reduce-only), so the pair never stays naked by more than a lot.
- Unwind and close orders are retried until the residual is below a lot, at most
  ``max_exit_retries`` times each; past that the pair stays ``UNWINDING``/``CLOSING`` with a
  detail saying so (the executor raises an incident: a human must look).
- ``CloseRequested`` on a ``HEDGED`` pair closes both legs the same way (reduce-only, at once);
  on a pair still entering it is remembered as the detail and applied once hedged (a plan
  releases no more children after it).

Execution plans (``processors.execution_plans``): a pair opened with an ``entry_plan`` works
leg 0's target as the plan's children, one at a time. Each child that settles is hedged at
once (its fill, rounded down to leg 1's lot, with a short hedge retried as above), and the next
child is released only when the hedge has caught up and the child is due (a :class:`Tick`
passes the time in), so the pair is never naked by more than the child in flight plus less than
a lot. A post-only child the venue rejects (it would cross) is retried at the plan's passive
price while the plan has retries, else given up. When the plan is finished (every child sent,
or its deadline passed) the pair ends as without a plan: ``HEDGED``, ``UNWINDING`` what is not
hedged, or ``REJECTED`` when nothing filled. A pair without a plan (opened before plans) sends
one entry order, as before.

Order ids: leg ``i``'s ``k``-th order of a purpose is ``OrderKey(signal, i, k, purpose)``; the
slice index counts every order of the leg (children included), so no two orders share an id and
a redelivered event yields the same ids (the ledger refuses a second submission of any).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal

from processors import execution_plans as plans
from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from processors.lots import Lot
from processors.lots import tradable_size
from processors.records import derived_id
from schemas.records.common import Envelope
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.execution import ExecutionPlan
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.execution import PairLeg
from schemas.records.execution import PairStatus
from schemas.records.execution import PairUpdate
from schemas.records.execution import PlanKind
from schemas.records.execution import PlannedChild
from schemas.records.execution import SubmitOrder
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.scalars import QUANTUM

ZERO = Decimal(0)
TERMINAL = frozenset({PairStatus.CLOSED, PairStatus.UNWOUND, PairStatus.REJECTED})
ENTRY_LEG = 0
HEDGE_LEG = 1


@dataclass(frozen=True, slots=True)
class PairPolicy:
    max_hedge_retries: int = 3
    """Extra hedge orders after the first when the hedge fills short."""
    max_exit_retries: int = 5
    """Extra unwind or close orders per leg after the first."""


@dataclass(frozen=True, slots=True)
class LegLot:
    """A leg's venue size rules, in base units (from the instrument's facts)."""

    lot_base: Decimal
    min_base: Decimal


@dataclass(frozen=True, slots=True)
class OrderSettled:
    """An order of the pair reached a terminal state (from the ledger)."""

    client_order_id: str
    leg_index: int
    purpose: OrderPurpose
    status: OrderStatus
    filled_base: Decimal
    average_price: Decimal | None
    at_ms: int


@dataclass(frozen=True, slots=True)
class CloseRequested:
    """The opportunity closed: the pair's legs should be closed."""

    reason: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed (executor clock): a plan's next child may be due."""

    at_ms: int


Event = OrderSettled | CloseRequested | Tick


class PairRefused(ValueError):  # noqa: N818 - names the refused event, as InvalidOrderKey
    """The event does not belong to this pair's current state (it changes nothing)."""


def _down(size: Decimal, lot: Decimal) -> Decimal:
    return size if lot <= 0 else (size // lot) * lot


def held_base(leg: PairLeg) -> Decimal:
    """What the leg holds now: entered minus exited, base units."""
    return leg.entered_base - leg.exited_base


def target_size(decision: RiskDecision, lots: tuple[LegLot, LegLot]) -> Decimal:
    """The base size both legs aim at: the approved size rounded down to both legs' lots and
    meeting both minimums (zero: nothing tradable)."""
    return tradable_size(
        decision.approved_size_base,
        [Lot(Decimal(1), lot.lot_base or None, lot.min_base) for lot in lots],
        [leg.entry_price for leg in decision.legs],
    )


def open_pair(
    decision: RiskDecision,
    lots: tuple[LegLot, LegLot],
    policy: PairPolicy = PairPolicy(),
    *,
    entry_plan: ExecutionPlan | None = None,
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """The pair of an approved two-leg decision and its first order (or a REJECTED pair).

    With ``entry_plan`` (planned for :func:`target_size`), leg 0 works the plan's children
    (the first is sent when due at the plan's start); without, one entry order of the target."""
    del policy  # the first order does not depend on it; kept for one signature
    if decision.outcome is not RiskOutcome.APPROVED:
        raise PairRefused(f"decision {decision.decision_id} is {decision.outcome}, not APPROVED")
    if len(decision.legs) != 2:
        raise PairRefused(f"decision {decision.decision_id} has {len(decision.legs)} legs, not 2")
    at = decision.envelope.event_time_ms
    legs = tuple(
        PairLeg(
            instrument=leg.instrument,
            side=leg.side,
            expected_price=leg.entry_price,
            lot_base=lot.lot_base,
            min_base=lot.min_base,
            entered_base=ZERO,
            entered_notional_quote=ZERO,
            exited_base=ZERO,
            exited_notional_quote=ZERO,
            orders_sent=0,
        )
        for leg, lot in zip(decision.legs, lots, strict=True)
    )
    target = target_size(decision, lots)
    pair = PairUpdate(
        envelope=_envelope(decision.decision_id, 0, at, decision.envelope.event_id),
        signal_id=decision.decision_id,
        opportunity_id=decision.opportunity_id,
        seq=0,
        status=PairStatus.ENTERING,
        target_size_base=target,
        legs=legs,
        hedge_attempts=0,
        entry_plan=entry_plan,
    )
    if target <= 0:
        return _next(
            pair,
            at,
            status=PairStatus.REJECTED,
            detail=f"no size both venues accept at or below {decision.approved_size_base}",
            seq=0,
        ), ()
    if entry_plan is None:
        return _submit(pair, at, ENTRY_LEG, OrderPurpose.ENTRY, target)
    if not entry_plan.children:
        detail = f"the {entry_plan.kind} plan has no child the venue accepts"
        if entry_plan.detail:
            detail += f" ({entry_plan.detail})"
        return _next(pair, at, status=PairStatus.REJECTED, detail=detail, seq=0), ()
    child = plans.due(entry_plan, entry_plan.start_ms)
    if child is None:  # the first child is not due yet: a tick releases it
        return pair, ()
    pair = pair.model_copy(update={"entry_plan": plans.released(entry_plan)})
    return _send_child(pair, at, child)


def apply(
    pair: PairUpdate, event: Event, policy: PairPolicy = PairPolicy()
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """The pair after ``event`` and the orders to submit; :class:`PairRefused` changes nothing."""
    if pair.status in TERMINAL:
        raise PairRefused(f"pair {pair.signal_id} is {pair.status}: nothing applies")
    if isinstance(event, CloseRequested):
        return _close_requested(pair, event)
    if isinstance(event, Tick):
        return _tick(pair, event.at_ms, policy)
    leg = pair.legs[event.leg_index] if 0 <= event.leg_index < len(pair.legs) else None
    if leg is None or leg.working_client_order_id != event.client_order_id:
        raise PairRefused(
            f"order {event.client_order_id} is not the working order of leg {event.leg_index}"
        )
    if event.status not in {
        OrderStatus.FILLED,
        OrderStatus.CANCELED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
    }:
        raise PairRefused(f"order {event.client_order_id} is {event.status}, not terminal")
    pair = _record_fill(pair, event)
    planned = pair.entry_plan is not None and event.purpose is OrderPurpose.ENTRY
    if planned and pair.status in (PairStatus.ENTERING, PairStatus.HEDGING):
        if event.leg_index == ENTRY_LEG:
            return _after_child(pair, event, policy)
        return _after_slice_hedge(pair, event.at_ms, policy)
    if pair.status is PairStatus.ENTERING:
        return _after_entry(pair, event.at_ms)
    if pair.status is PairStatus.HEDGING:
        return _after_hedge(pair, event.at_ms, policy)
    if pair.status is PairStatus.UNWINDING:
        return _after_unwind(pair, event.at_ms, policy)
    if pair.status is PairStatus.CLOSING:
        return _after_close(pair, event, policy)
    raise PairRefused(f"pair {pair.signal_id} is {pair.status} and has no working order")


# -------------------------------------------------------------------------------- transitions


def _tick(
    pair: PairUpdate, at: int, policy: PairPolicy
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """Release a due child of a waiting plan (or finish it); the same pair when nothing is due."""
    entry = pair.entry_plan
    idle = not any(leg.working_client_order_id for leg in pair.legs)
    if entry is None or pair.status is not PairStatus.ENTERING or not idle:
        return pair, ()
    if plans.due(entry, at) is None and not plans.finished(entry, at):
        return pair, ()
    return _advance(pair, at, policy)


def _after_child(
    pair: PairUpdate, event: OrderSettled, policy: PairPolicy
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """A child of leg 0's plan settled: retry a rejected post-only child, else go on."""
    entry = pair.entry_plan
    assert entry is not None
    at = event.at_ms
    rejected_post_only = (
        entry.kind is PlanKind.POST_ONLY
        and event.status is OrderStatus.REJECTED
        and event.filled_base <= 0
    )
    if rejected_post_only:
        in_time = entry.deadline_ms is None or at < entry.deadline_ms
        if entry.post_only_retries > 0 and entry.passive_price is not None and in_time:
            entry, again = plans.retry_post_only(entry, entry.children[entry.next_child - 1])
            detail = f"post-only would cross: retried at the passive {entry.passive_price}"
            pair = _next(pair, at, entry_plan=entry, detail=detail, status=PairStatus.ENTERING)
            return _send_child(pair, at, again)
        pair = pair.model_copy(update={"detail": "post-only rejected (it would cross): given up"})
    return _advance(pair, at, policy)


def _after_slice_hedge(
    pair: PairUpdate, at: int, policy: PairPolicy
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """A slice's hedge settled: retry it when short (within policy), else go on."""
    a, b = pair.legs[ENTRY_LEG], pair.legs[HEDGE_LEG]
    short = _down(held_base(a) - held_base(b), b.lot_base)
    if short > 0 and short >= b.min_base:
        if pair.hedge_attempts < policy.max_hedge_retries:
            pair = _next(pair, at, hedge_attempts=pair.hedge_attempts + 1)
            return _submit(pair, at, HEDGE_LEG, OrderPurpose.ENTRY, short)
        entry = pair.entry_plan
        assert entry is not None
        abandoned = entry.model_copy(update={"next_child": len(entry.children)})
        pair = pair.model_copy(update={"entry_plan": abandoned})
        return _balance(pair, at, policy, give_up_detail="hedge retries exhausted")
    return _advance(pair, at, policy)


def _advance(
    pair: PairUpdate, at: int, policy: PairPolicy
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """Both legs idle under a plan: hedge what leg 0 holds beyond leg 1 (a lot or more),
    else release the next child when due, else wait for a tick, else finish the pair."""
    a, b = pair.legs[ENTRY_LEG], pair.legs[HEDGE_LEG]
    entry = pair.entry_plan
    assert entry is not None
    gap = _down(held_base(a) - held_base(b), b.lot_base)
    if gap > 0 and gap >= b.min_base:
        pair = _next(pair, at, status=PairStatus.HEDGING)
        return _submit(pair, at, HEDGE_LEG, OrderPurpose.ENTRY, gap)
    child = plans.due(entry, at)
    if child is not None:
        return _release(pair, at, child)
    if not plans.finished(entry, at):
        return _next(pair, at, status=PairStatus.ENTERING), ()
    if a.entered_base <= 0:
        detail = "the entry leg filled nothing" + (f" ({pair.detail})" if pair.detail else "")
        return _next(pair, at, status=PairStatus.REJECTED, detail=detail), ()
    give_up = "entry fill below a hedge lot" if held_base(b) <= 0 else "unhedged remainder"
    return _balance(pair, at, policy, give_up_detail=give_up)


def _after_entry(pair: PairUpdate, at: int) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    entered = pair.legs[ENTRY_LEG].entered_base
    if entered <= 0:
        return _next(
            pair, at, status=PairStatus.REJECTED, detail="the entry leg filled nothing"
        ), ()
    hedge = _down(entered, pair.legs[HEDGE_LEG].lot_base)
    if hedge <= 0 or hedge < pair.legs[HEDGE_LEG].min_base:
        pair = _next(pair, at, status=PairStatus.UNWINDING, detail="entry fill below a hedge lot")
        return _submit(pair, at, ENTRY_LEG, OrderPurpose.UNWIND, entered)
    pair = _next(pair, at, status=PairStatus.HEDGING)
    return _submit(pair, at, HEDGE_LEG, OrderPurpose.ENTRY, hedge)


def _after_hedge(
    pair: PairUpdate, at: int, policy: PairPolicy
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    a, b = pair.legs[ENTRY_LEG], pair.legs[HEDGE_LEG]
    short = _down(held_base(a) - held_base(b), b.lot_base)
    if short > 0 and short >= b.min_base and pair.hedge_attempts < policy.max_hedge_retries:
        pair = _next(pair, at, hedge_attempts=pair.hedge_attempts + 1)
        return _submit(pair, at, HEDGE_LEG, OrderPurpose.ENTRY, short)
    return _balance(pair, at, policy, give_up_detail="hedge retries exhausted")


def _balance(
    pair: PairUpdate, at: int, policy: PairPolicy, *, give_up_detail: str
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """Unwind leg 0's excess over leg 1, or end HEDGED / UNWOUND when within a lot."""
    a, b = pair.legs[ENTRY_LEG], pair.legs[HEDGE_LEG]
    excess = held_base(a) - held_base(b)
    if excess < max(a.lot_base, Decimal("1e-18")):
        if held_base(b) > 0:
            return _next(pair, at, status=PairStatus.HEDGED, detail=pair.detail), ()
        return _next(pair, at, status=PairStatus.UNWOUND, detail=give_up_detail), ()
    if pair.status is PairStatus.UNWINDING and a.orders_sent > policy.max_exit_retries + 1:
        detail = f"unwind retries exhausted with {excess} base naked on leg 0"
        return _next(pair, at, detail=detail), ()
    pair = _next(pair, at, status=PairStatus.UNWINDING, detail=give_up_detail)
    return _submit(pair, at, ENTRY_LEG, OrderPurpose.UNWIND, _down(excess, a.lot_base) or excess)


def _after_unwind(
    pair: PairUpdate, at: int, policy: PairPolicy
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    return _balance(pair, at, policy, give_up_detail=pair.detail or "unwound")


def _close_requested(
    pair: PairUpdate, event: CloseRequested
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    detail = f"close requested: {event.reason}"
    if pair.status is not PairStatus.HEDGED:
        # applied when the pair is hedged (the executor re-sends it then); a plan still
        # entering sends no more children, so the pair gets there soon
        entry = pair.entry_plan
        if entry is not None and entry.next_child < len(entry.children):
            entry = entry.model_copy(update={"next_child": len(entry.children)})
        return _next(pair, event.at_ms, detail=detail, entry_plan=entry), ()
    pair = _next(pair, event.at_ms, status=PairStatus.CLOSING, detail=detail)
    orders: list[SubmitOrder] = []
    for index in (ENTRY_LEG, HEDGE_LEG):
        size = held_base(pair.legs[index])
        if size > 0:
            pair, sent = _submit(pair, event.at_ms, index, OrderPurpose.CLOSE, size)
            orders += sent
    if not orders:
        return _next(pair, event.at_ms, status=PairStatus.CLOSED), ()
    return pair, tuple(orders)


def _after_close(
    pair: PairUpdate, event: OrderSettled, policy: PairPolicy
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    at, index = event.at_ms, event.leg_index
    leg = pair.legs[index]
    left = held_base(leg)
    if left >= max(leg.lot_base, Decimal("1e-18")):
        closes = leg.orders_sent  # every order of the leg so far, entries included
        if closes > policy.max_exit_retries + policy.max_hedge_retries + 2:
            detail = f"close retries exhausted with {left} base still held on leg {index}"
            return _next(pair, at, detail=detail), ()
        return _submit(pair, at, index, OrderPurpose.CLOSE, _down(left, leg.lot_base) or left)
    if any(other.working_client_order_id for other in pair.legs):
        return _next(pair, at), ()
    return _next(pair, at, status=PairStatus.CLOSED), ()


# ---------------------------------------------------------------------------------- building


def _record_fill(pair: PairUpdate, event: OrderSettled) -> PairUpdate:
    leg = pair.legs[event.leg_index]
    price = event.average_price
    notional = (
        ZERO if price is None else (price * event.filled_base).quantize(QUANTUM, ROUND_HALF_EVEN)
    )
    if event.purpose is OrderPurpose.ENTRY:
        leg = leg.model_copy(
            update={
                "entered_base": leg.entered_base + event.filled_base,
                "entered_notional_quote": leg.entered_notional_quote + notional,
                "working_client_order_id": None,
            }
        )
    else:
        leg = leg.model_copy(
            update={
                "exited_base": leg.exited_base + event.filled_base,
                "exited_notional_quote": leg.exited_notional_quote + notional,
                "working_client_order_id": None,
            }
        )
    legs = tuple(leg if i == event.leg_index else old for i, old in enumerate(pair.legs))
    return pair.model_copy(update={"legs": legs})


def _next(pair: PairUpdate, at: int, *, seq: int | None = None, **changes: object) -> PairUpdate:
    """The pair's next change (a new seq and envelope) with ``changes``."""
    nseq = pair.seq + 1 if seq is None else seq
    env = _envelope(pair.signal_id, nseq, at, pair.envelope.causation_id)
    return pair.model_copy(update={"seq": nseq, "envelope": env, **changes})


def _submit(
    pair: PairUpdate,
    at: int,
    index: int,
    purpose: OrderPurpose,
    size: Decimal,
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """Submit one order on leg ``index`` (its working order until it settles)."""
    leg = pair.legs[index]
    slice_index = leg.orders_sent
    cid = client_order_id(OrderKey(pair.signal_id, index, slice_index, purpose)).hex
    entry = purpose is OrderPurpose.ENTRY
    side = leg.side if entry else (Side.SELL if leg.side is Side.BUY else Side.BUY)
    order = SubmitOrder(
        envelope=Envelope(
            event_id=derived_id("submit", cid),
            event_time_ms=at,
            ingest_time_ms=at,
            correlation_id=pair.signal_id,
            causation_id=pair.envelope.event_id,
        ),
        client_order_id=cid,
        signal_id=pair.signal_id,
        leg_index=index,
        slice_index=slice_index,
        instrument=leg.instrument,
        side=side,
        order_type=OrderType.MARKET,
        time_in_force=TimeInForce.IOC,
        size_base=size,
        reduce_only=not entry,
        purpose=purpose,
    )
    return _sent(pair, index, order)


def _sent(
    pair: PairUpdate, index: int, order: SubmitOrder
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """``order`` becomes leg ``index``'s working order (one more order of the leg)."""
    leg = pair.legs[index].model_copy(
        update={
            "orders_sent": order.slice_index + 1,
            "working_client_order_id": order.client_order_id,
        }
    )
    legs = tuple(leg if i == index else old for i, old in enumerate(pair.legs))
    return pair.model_copy(update={"legs": legs}), (order,)


def _release(
    pair: PairUpdate, at: int, child: PlannedChild
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    """Send the plan's next child (the plan moves on; the pair is ENTERING)."""
    entry = pair.entry_plan
    assert entry is not None
    pair = _next(pair, at, status=PairStatus.ENTERING, entry_plan=plans.released(entry))
    return _send_child(pair, at, child)


def _send_child(
    pair: PairUpdate, at: int, child: PlannedChild
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    leg = pair.legs[ENTRY_LEG]
    order = plans.child_order(
        child,
        signal_id=pair.signal_id,
        leg_index=ENTRY_LEG,
        slice_index=leg.orders_sent,
        instrument=leg.instrument,
        side=leg.side,
        at_ms=at,
        causation_id=pair.envelope.event_id,
    )
    return _sent(pair, ENTRY_LEG, order)


def _envelope(signal_id: str, seq: int, at: int, causation: str | None) -> Envelope:
    return Envelope(
        event_id=derived_id("pair", signal_id, seq),
        event_time_ms=at,
        ingest_time_ms=at,
        correlation_id=signal_id,
        causation_id=causation,
    )


def is_terminal(pair: PairUpdate) -> bool:
    return pair.status in TERMINAL
