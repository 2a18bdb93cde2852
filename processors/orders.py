"""The order state machine: a pure reducer ``apply(state, report) -> (state, outputs)``.

Statuses are :class:`~schemas.records.execution.OrderStatus`::

    NEW --Sent--> SUBMITTED --venue--> ACCEPTED --> PARTIALLY_FILLED --> FILLED
     |                |                    \\______________\\____________> CANCELED / EXPIRED
     |                |                     \\ (nothing filled) ---------> REJECTED
     |                +--Ambiguous--> OUTCOME_UNKNOWN --venue (fetch by cid)--> any of these
     +--NotSent--> REJECTED

- ``NEW``: the intent is recorded and nothing left the process. ``SUBMITTED``: the request may
  be on the wire. Only ``NEW`` accepts :class:`Sent`: a second send of the same order is
  refused in every other state (``RESUBMIT``), whatever the reason the caller had.
- :class:`Ambiguous` (a timeout, a network error or a 5xx after the send) is never a reject and
  never a resend: the order becomes ``OUTCOME_UNKNOWN`` and the reducer asks for a
  :class:`FetchByClientId`. :class:`NotFound` answers keep it unknown (the venue may show the
  order late, and it may still fill); after :data:`LOST_AFTER_NOT_FOUND` of them the reducer
  also says :class:`PresumedLost`, for an operator, without changing the state.
- A :class:`VenueReport` states the venue's view with the *cumulative* filled size. The filled
  size is monotone and never above the order size; an open report is normalised by its fill
  (``ACCEPTED`` with a fill is ``PARTIALLY_FILLED``; a complete fill is ``FILLED``). A
  ``SUBMITTED`` report is the venue's bare acknowledgement, read as ``ACCEPTED``. The
  average price is read only when the fill grows (it prices the increment).
- Terminal states (``FILLED``, ``CANCELED``, ``REJECTED``, ``EXPIRED``) absorb: the same
  report again is a no-op, any other is refused.

A refusal is returned as a :class:`Refused` output with the state unchanged; nothing here
raises for a bad report. Sizes are base units, prices quote per base, notionals quote.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from decimal import Decimal

from schemas.records.execution import OrderStatus

ZERO = Decimal(0)
LOST_AFTER_NOT_FOUND = 4
"""Not-found answers after which an unknown order is reported presumed lost (still fillable)."""

TERMINAL = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)
OPEN = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
_VENUE_STATUSES = frozenset({OrderStatus.SUBMITTED, *OPEN, *TERMINAL})
_AWAITING_VENUE = frozenset({OrderStatus.SUBMITTED, OrderStatus.OUTCOME_UNKNOWN})


@dataclass(frozen=True, slots=True)
class OrderState:
    """One order as the executor knows it."""

    client_order_id: str
    size_base: Decimal
    status: OrderStatus = OrderStatus.NEW
    filled_base: Decimal = ZERO
    average_price: Decimal | None = None
    venue_order_id: str | None = None
    not_found: int = 0
    """Consecutive not-found answers while ``OUTCOME_UNKNOWN``."""
    detail: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def filled_notional_quote(self) -> Decimal:
        return ZERO if self.average_price is None else self.average_price * self.filled_base


def new_order(client_order_id: str, size_base: Decimal) -> OrderState:
    """The state of an intent just recorded."""
    if size_base <= 0:
        raise ValueError(f"order size must be positive, was {size_base}")
    return OrderState(client_order_id, size_base)


# Reports: what happened to the order.


@dataclass(frozen=True, slots=True)
class Sent:
    """The request is about to leave (recorded before the send)."""


@dataclass(frozen=True, slots=True)
class NotSent:
    """A definitive local failure: the request never left the process."""

    detail: str


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """The send may or may not have taken effect (timeout, network error, 5xx)."""

    detail: str


@dataclass(frozen=True, slots=True)
class NotFound:
    """A fetch by client id found no order."""


@dataclass(frozen=True, slots=True)
class VenueReport:
    """The venue's view of the order (create or cancel answer, stream update, fetch)."""

    status: OrderStatus
    filled_base: Decimal = ZERO
    average_price: Decimal | None = None
    venue_order_id: str | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.filled_base < 0:
            raise ValueError(f"cumulative filled size must be >= 0, was {self.filled_base}")


Report = Sent | NotSent | Ambiguous | NotFound | VenueReport


# Outputs: what the executor does about it.


@dataclass(frozen=True, slots=True)
class StatusChanged:
    previous: OrderStatus
    status: OrderStatus


@dataclass(frozen=True, slots=True)
class FillDelta:
    """What filled since the previous state; ``notional_quote`` is exact (no division)."""

    size_base: Decimal
    notional_quote: Decimal

    @property
    def price(self) -> Decimal:
        return self.notional_quote / self.size_base


@dataclass(frozen=True, slots=True)
class FetchByClientId:
    """Settle the order by asking the venue for it by client id (never by resending)."""

    client_order_id: str


@dataclass(frozen=True, slots=True)
class PresumedLost:
    """The venue did not find the order ``not_found`` times; it stays unknown and fillable."""

    client_order_id: str
    not_found: int


class RefusalCode(enum.StrEnum):
    RESUBMIT = "RESUBMIT"
    """A send of an order that is no longer NEW."""
    TERMINAL = "TERMINAL"
    """A report that differs from the terminal state it was applied to."""
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    NOT_A_VENUE_STATUS = "NOT_A_VENUE_STATUS"
    FILL_REGRESSION = "FILL_REGRESSION"
    """A cumulative filled size below the one already known (a stale report)."""
    OVERFILL = "OVERFILL"
    INCONSISTENT_FILL = "INCONSISTENT_FILL"
    """FILLED without the full size, a reject with fills, a fill without a sound average price."""
    VENUE_ID_MISMATCH = "VENUE_ID_MISMATCH"


@dataclass(frozen=True, slots=True)
class Refused:
    code: RefusalCode
    detail: str


Output = StatusChanged | FillDelta | FetchByClientId | PresumedLost | Refused


def apply(state: OrderState, report: Report) -> tuple[OrderState, tuple[Output, ...]]:
    """The state after ``report`` and what the executor must do about it."""
    if isinstance(report, Sent):
        if state.status is not OrderStatus.NEW:
            return _refuse(state, RefusalCode.RESUBMIT, "a sent order is never sent again")
        return _moved(state, dataclasses.replace(state, status=OrderStatus.SUBMITTED))
    if state.terminal:
        return _absorbed(state, report)
    if isinstance(report, NotSent):
        if state.status is not OrderStatus.NEW:
            return _refuse(
                state, RefusalCode.ILLEGAL_TRANSITION, "only an unsent order fails locally"
            )
        rejected = dataclasses.replace(state, status=OrderStatus.REJECTED, detail=report.detail)
        return _moved(state, rejected)
    if isinstance(report, Ambiguous):
        return _ambiguous(state, report)
    if isinstance(report, NotFound):
        return _not_found(state)
    return _venue(state, report)


def _refuse(state: OrderState, code: RefusalCode, detail: str) -> tuple[OrderState, tuple[Output]]:
    return state, (Refused(code, f"{state.client_order_id} in {state.status}: {detail}"),)


def _moved(
    old: OrderState, new: OrderState, *extra: Output
) -> tuple[OrderState, tuple[Output, ...]]:
    if new.status is old.status:
        return new, extra
    return new, (StatusChanged(old.status, new.status), *extra)


def _absorbed(state: OrderState, report: Report) -> tuple[OrderState, tuple[Output, ...]]:
    """A terminal state: the report it ended with is a no-op, anything else is refused."""
    if (
        isinstance(report, VenueReport)
        and report.status in _VENUE_STATUSES
        and _same_as(state, report, _normalised(report, state.size_base))
    ):
        return state, ()
    if (
        isinstance(report, NotSent)
        and state.status is OrderStatus.REJECTED
        and report.detail == state.detail
    ):
        return state, ()
    return _refuse(state, RefusalCode.TERMINAL, f"then {report}")


def _ambiguous(state: OrderState, report: Ambiguous) -> tuple[OrderState, tuple[Output, ...]]:
    if state.status is OrderStatus.NEW:
        return _refuse(state, RefusalCode.ILLEGAL_TRANSITION, "nothing was sent")
    fetch = FetchByClientId(state.client_order_id)
    if state.status is OrderStatus.SUBMITTED:
        unknown = dataclasses.replace(
            state, status=OrderStatus.OUTCOME_UNKNOWN, detail=report.detail
        )
        return _moved(state, unknown, fetch)
    return state, (fetch,)  # unknown stays unknown; an open order is only re-read


def _not_found(state: OrderState) -> tuple[OrderState, tuple[Output, ...]]:
    if state.status is not OrderStatus.OUTCOME_UNKNOWN:
        return _refuse(state, RefusalCode.ILLEGAL_TRANSITION, "not-found only settles unknowns")
    count = state.not_found + 1
    outputs: tuple[Output, ...] = (FetchByClientId(state.client_order_id),)
    if count >= LOST_AFTER_NOT_FOUND:
        outputs = (*outputs, PresumedLost(state.client_order_id, count))
    return dataclasses.replace(state, not_found=count), outputs


def _venue(state: OrderState, report: VenueReport) -> tuple[OrderState, tuple[Output, ...]]:
    if report.status not in _VENUE_STATUSES:
        return _refuse(state, RefusalCode.NOT_A_VENUE_STATUS, f"venue said {report.status}")
    if state.status is OrderStatus.NEW:
        return _refuse(state, RefusalCode.ILLEGAL_TRANSITION, "the venue knows an unsent order")
    status = _normalised(report, state.size_base)
    problem = _fill_problem(state, report, status)
    if problem is not None:
        return _refuse(state, *problem)
    if (
        state.venue_order_id is not None
        and report.venue_order_id is not None
        and report.venue_order_id != state.venue_order_id
    ):
        return _refuse(state, RefusalCode.VENUE_ID_MISMATCH, f"venue id {report.venue_order_id}")
    extra: tuple[Output, ...] = ()
    average = state.average_price
    if report.filled_base > state.filled_base and report.average_price is not None:
        notional = report.average_price * report.filled_base - state.filled_notional_quote
        extra = (FillDelta(report.filled_base - state.filled_base, notional),)
        average = report.average_price
    new = dataclasses.replace(
        state,
        status=status,
        filled_base=report.filled_base,
        average_price=average,
        venue_order_id=report.venue_order_id or state.venue_order_id,
        not_found=0,
        detail=report.detail if report.detail is not None else state.detail,
    )
    return _moved(state, new, *extra)


def _normalised(report: VenueReport, size_base: Decimal) -> OrderStatus:
    """An open report's status follows from its fill; a final status stays."""
    if report.status in (OrderStatus.SUBMITTED, *OPEN):
        if report.filled_base >= size_base:
            return OrderStatus.FILLED
        return OrderStatus.PARTIALLY_FILLED if report.filled_base > 0 else OrderStatus.ACCEPTED
    return report.status


def _same_as(state: OrderState, report: VenueReport, status: OrderStatus) -> bool:
    """Same status, fill and venue id (the average is read only when the fill grows)."""
    return (
        status is state.status
        and report.filled_base == state.filled_base
        and (report.venue_order_id is None or report.venue_order_id == state.venue_order_id)
    )


def _fill_problem(
    state: OrderState, report: VenueReport, status: OrderStatus
) -> tuple[RefusalCode, str] | None:
    filled = report.filled_base
    if filled > state.size_base:
        return RefusalCode.OVERFILL, f"filled {filled} of {state.size_base}"
    if filled < state.filled_base:
        return RefusalCode.FILL_REGRESSION, f"filled {filled} after {state.filled_base}"
    if status is OrderStatus.FILLED and filled != state.size_base:
        return RefusalCode.INCONSISTENT_FILL, f"FILLED with {filled} of {state.size_base}"
    if status is OrderStatus.REJECTED and filled > 0:
        return RefusalCode.INCONSISTENT_FILL, f"REJECTED with {filled} filled"
    if filled > state.filled_base:
        price = report.average_price
        if price is None or price <= 0:
            return RefusalCode.INCONSISTENT_FILL, "a fill without a positive average price"
        if price * filled <= state.filled_notional_quote:
            return (
                RefusalCode.INCONSISTENT_FILL,
                f"average {price} implies a non-positive fill price",
            )
    return None
