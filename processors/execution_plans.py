"""Execution plans: how one leg's target size becomes child orders, and when each is released.

:func:`plan` is pure: from a :class:`PlanSpec` (the kind is the schema's
:class:`~schemas.records.execution.PlanKind`), the leg's target size, its :class:`LegTerms`
(side, lot with contract size, step and minimums, price tick, expected and protective prices),
the book and the venue's recent trades, it returns an
:class:`~schemas.records.execution.ExecutionPlan` record: the children (size, order type, time in
force, limit price, release time) and what of the target was not planned. Nothing here reads a
clock: the plan's times are offsets from ``start_ms``, and the next child is released by
:func:`due` when an event (a fill, a time tick) passed in says so. The record is stored with the
pair, so a restarted executor resumes where the stored plan says it stopped.

Kinds (sizes in base units; "marketable" is the protective limit of
:mod:`processors.protective_prices`, or a market order when there is none):

- ``MARKET``: one market IOC order.
- ``IOC`` / ``FOK``: one marketable limit IOC / FOK order (``IOC`` is the default plan).
- ``LIMIT``: one limit GTC order at the expected price on the tick, resting until the deadline.
- ``POST_ONLY``: one maker-only limit at the expected price; a venue reject (it would cross) is
  retried at the passive touch ``post_only_retries`` times, else given up.
- ``ICEBERG``: limit GTC children of at most ``display_size_base``, each released when the
  previous settles (the refill).
- ``TWAP``: ``slices`` equal children, child ``i`` released at ``start + i * duration / slices``.
- ``VWAP``: as TWAP, child ``i`` weighted by the base volume of the venue's trades in the
  ``i``-th part of the ``duration`` before the start (uniform when there is none).
- ``LEVELS``: one limit IOC child per book level of the side taken, at the level's price and
  at most its size, up to ``slices`` levels (0: all) and not past the protective price.

Sizes: every child is a whole number of the lot's step (``Lot.step_base``: the amount step
times the contract size), at least the minimum amount and notional; the target is split in
step units by largest remainder (exact: the children sum to the target rounded down to the
step), then a child below the minimum is merged into its neighbour. What cannot be planned (a
remainder below one step or below the minimum, or beyond the levels a LEVELS plan may take) is
``remainder_base``: reported, never sent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from processors.lots import Lot
from processors.protective_prices import protective_limit
from processors.records import derived_id
from processors.units import Book
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.execution import ExecutionPlan
from schemas.records.execution import OrderPurpose
from schemas.records.execution import PlanKind
from schemas.records.execution import PlannedChild
from schemas.records.execution import SubmitOrder
from schemas.records.md import Trade

ZERO = Decimal(0)
FINEST_STEP = Decimal(1).scaleb(-18)
"""The step of a lot that states none: the wire's decimal(38, 18) quantum."""
RESTING_KINDS = frozenset({PlanKind.LIMIT, PlanKind.POST_ONLY, PlanKind.ICEBERG})
"""Kinds whose children may rest on the book (canceled at the plan's deadline)."""
BOOK_KINDS = frozenset({PlanKind.LEVELS, PlanKind.POST_ONLY})
TRADE_KINDS = frozenset({PlanKind.VWAP})


class PlanError(ValueError):
    """A plan spec that cannot be executed (missing display size, no slices, no duration)."""


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """The plan chosen for a leg (from the executor's settings or the strategy)."""

    kind: PlanKind = PlanKind.IOC
    display_size_base: Decimal | None = None
    """ICEBERG: the most one child shows, base units."""
    slices: int = 1
    """TWAP/VWAP: children; LEVELS: most levels (0: as many as needed)."""
    duration_ms: int = 0
    """TWAP/VWAP: release span; LIMIT/POST_ONLY/ICEBERG: how long children may rest."""
    post_only_retries: int = 0
    """POST_ONLY: retries at the passive price after a reject (0: give up)."""

    def __post_init__(self) -> None:
        if self.kind is PlanKind.UNKNOWN:
            raise PlanError("plan kind UNKNOWN cannot be executed")
        if self.kind is PlanKind.ICEBERG and not (
            self.display_size_base is not None and self.display_size_base > 0
        ):
            raise PlanError("an ICEBERG plan needs a positive display size")
        if self.kind in (PlanKind.TWAP, PlanKind.VWAP) and self.slices < 1:
            raise PlanError(f"a {self.kind} plan needs at least one slice, was {self.slices}")
        if self.slices < 0 or self.duration_ms < 0 or self.post_only_retries < 0:
            raise PlanError("slices, duration and retries must not be negative")
        if self.kind in RESTING_KINDS and self.duration_ms <= 0:
            raise PlanError(f"a {self.kind} plan needs a positive duration (its deadline)")

    @property
    def needs_book(self) -> bool:
        return self.kind in BOOK_KINDS

    @property
    def needs_trades(self) -> bool:
        return self.kind in TRADE_KINDS


@dataclass(frozen=True, slots=True)
class LegTerms:
    """What a plan needs of its leg and venue."""

    side: Side
    lot: Lot
    """Step, minimums and contract size the venue accepts (base-unit sizes are converted)."""
    tick: Decimal | None
    expected_price: Decimal
    """The price the opportunity saw (quote per base)."""
    protective_price: Decimal | None
    """The marketable limit of an entry (None: marketable children are market orders)."""


def plan(
    spec: PlanSpec,
    target_base: Decimal,
    leg: LegTerms,
    *,
    start_ms: int,
    book: Book | None = None,
    trades: Sequence[Trade] = (),
) -> ExecutionPlan:
    """The children of ``target_base`` under ``spec`` (see the module's table)."""
    step = leg.lot.step_base or FINEST_STEP
    units = int(target_base // step) if target_base > 0 else 0
    kind = spec.kind
    details: list[str] = []
    deadline = start_ms + spec.duration_ms if kind in RESTING_KINDS else None
    marketable = _marketable(leg, TimeInForce.FOK if kind is PlanKind.FOK else TimeInForce.IOC)
    passive = None
    sized: list[tuple[int, OrderType, TimeInForce, Decimal | None, int]]
    """(units, type, time in force, limit, release) per child."""
    if kind in (PlanKind.MARKET, PlanKind.IOC, PlanKind.FOK, PlanKind.LIMIT, PlanKind.POST_ONLY):
        order_type, tif, limit = marketable
        if kind is PlanKind.MARKET:
            order_type, tif, limit = OrderType.MARKET, TimeInForce.IOC, None
        elif kind in (PlanKind.LIMIT, PlanKind.POST_ONLY):
            limit = protective_limit(leg.side, leg.expected_price, ZERO, leg.tick)
            order_type = OrderType.LIMIT
            tif = TimeInForce.GTC if kind is PlanKind.LIMIT else TimeInForce.POST_ONLY
            if kind is PlanKind.POST_ONLY and book is not None and book.bids and book.asks:
                passive = book.best_bid if leg.side is Side.BUY else book.best_ask
        sized = [(u, order_type, tif, limit, start_ms) for u in _fit([units], leg, step, limit)]
    elif kind is PlanKind.ICEBERG:
        assert spec.display_size_base is not None
        limit = marketable[2] or protective_limit(leg.side, leg.expected_price, ZERO, leg.tick)
        sizes = _iceberg(units, spec.display_size_base, leg, step, limit, details)
        sized = [(u, OrderType.LIMIT, TimeInForce.GTC, limit, start_ms) for u in sizes]
    elif kind in (PlanKind.TWAP, PlanKind.VWAP):
        weights = [Decimal(1)] * spec.slices
        if kind is PlanKind.VWAP:
            weights = volume_profile(trades, spec.slices, start_ms, spec.duration_ms)
            if not any(weights):
                details.append("no trade volume in the window: uniform slices")
                weights = [Decimal(1)] * spec.slices
        order_type, tif, limit = marketable
        shares = split_units(units, weights)
        releases = [start_ms + i * spec.duration_ms // spec.slices for i in range(spec.slices)]
        fitted = _fit_at(shares, releases, leg, step, limit)
        if len(fitted) < len([s for s in shares if s > 0]):
            details.append("slices below the minimum size merged")
        sized = [(u, order_type, tif, limit, at) for u, at in fitted]
    elif kind is PlanKind.LEVELS:
        sized = _levels(units, spec.slices, leg, step, book, start_ms, details)
    else:  # pragma: no cover - every kind is handled above
        raise PlanError(f"plan kind {kind} is not supported")
    children = tuple(
        PlannedChild(
            size_base=u * step, order_type=t, time_in_force=f, limit_price=p, release_ms=at
        )
        for u, t, f, p, at in sized
    )
    planned = sum((c.size_base for c in children), ZERO)
    return ExecutionPlan(
        kind=kind,
        display_size_base=spec.display_size_base,
        slices=spec.slices,
        duration_ms=spec.duration_ms,
        start_ms=start_ms,
        deadline_ms=deadline,
        passive_price=passive,
        post_only_retries=spec.post_only_retries if kind is PlanKind.POST_ONLY else 0,
        children=children,
        next_child=0,
        remainder_base=max(target_base - planned, ZERO),
        detail="; ".join(details) or None,
    )


# ---------------------------------------------------------------------------------- sizing


def split_units(units: int, weights: Sequence[Decimal]) -> list[int]:
    """``units`` split in proportion to ``weights`` by largest remainder (ties: earlier first):
    the parts sum to ``units`` and each is within one unit of its exact share."""
    total = sum(weights, ZERO)
    if units <= 0 or total <= 0:
        return [0] * len(weights)
    exact = [units * w / total for w in weights]
    parts = [int(e) for e in exact]
    left = units - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def min_units(lot: Lot, step: Decimal, price: Decimal | None) -> int:
    """The fewest steps a child may have: the minimum amount and notional, at least one."""
    need = max(1, math.ceil(lot.min_base / step))
    if lot.min_notional_quote and price is not None and price > 0:
        need = max(need, math.ceil(lot.min_notional_quote / (step * price)))
    return need


def _fit(shares: list[int], leg: LegTerms, step: Decimal, price: Decimal | None) -> list[int]:
    return [u for u, _ in _fit_at(shares, [0] * len(shares), leg, step, price)]


def _fit_at(
    shares: list[int], releases: list[int], leg: LegTerms, step: Decimal, price: Decimal | None
) -> list[tuple[int, int]]:
    """Children of ``shares`` steps (with their releases), each at least the minimum: a child
    below it is carried into the next one (the last into the one before); zeros dropped."""
    least = min_units(leg.lot, step, price or leg.expected_price)
    out: list[tuple[int, int]] = []
    carry, carry_at = 0, None
    for units, at in zip(shares, releases, strict=True):
        if units <= 0 and carry == 0:
            continue
        total = carry + units
        first_at = at if carry_at is None else carry_at
        if total >= least:
            out.append((total, first_at))
            carry, carry_at = 0, None
        else:
            carry, carry_at = total, first_at
    if carry and out:  # (no child at all: the whole target is below the minimum)
        units, at = out[-1]
        out[-1] = (units + carry, at)
    return out


def _iceberg(
    units: int,
    display: Decimal,
    leg: LegTerms,
    step: Decimal,
    price: Decimal,
    details: list[str],
) -> list[int]:
    """Children of at most the display size: full ones, then the rest (or two halves of the
    last full one and the rest when the rest alone is below the minimum)."""
    least = min_units(leg.lot, step, price)
    show = int(display // step)
    if show < least:
        details.append(f"display size below the minimum: {least * step} shown")
        show = least
    if units < least:
        return []
    full, rest = divmod(units, show)
    sizes = [show] * full
    if rest >= least or (rest and not sizes):
        sizes.append(rest)
    elif rest:
        pair = show + rest
        if sizes and pair >= 2 * least:
            sizes[-1:] = [pair - pair // 2, pair // 2]
        else:
            details.append(f"{rest * step} below the minimum left unplanned")
    return [s for s in sizes if s >= least]


def _levels(
    units: int,
    most: int,
    leg: LegTerms,
    step: Decimal,
    book: Book | None,
    start_ms: int,
    details: list[str],
) -> list[tuple[int, OrderType, TimeInForce, Decimal | None, int]]:
    """One limit IOC child per level of the side taken, at the level's price and at most its
    size (levels below the minimum are carried to the next level's child)."""
    if book is None:
        raise PlanError("a LEVELS plan needs the book")
    levels = book.levels(leg.side)
    out: list[tuple[int, OrderType, TimeInForce, Decimal | None, int]] = []
    left, carry, used = units, 0, 0
    for level in levels:
        if left - carry <= 0 or (most and used >= most):
            break
        limit = leg.protective_price
        if limit is not None and (
            level.price > limit if leg.side is Side.BUY else level.price < limit
        ):
            details.append("levels past the protective price not taken")
            break
        take = min(int(level.size_base // step), left - carry)
        carry += take
        if carry >= min_units(leg.lot, step, level.price):
            out.append((carry, OrderType.LIMIT, TimeInForce.IOC, level.price, start_ms))
            left -= carry
            carry = 0
            used += 1
    if left > 0:
        details.append(f"{left * step} beyond the levels taken left unplanned")
    return out


def _marketable(leg: LegTerms, tif: TimeInForce) -> tuple[OrderType, TimeInForce, Decimal | None]:
    if leg.protective_price is None:
        return OrderType.MARKET, tif, None
    return OrderType.LIMIT, tif, leg.protective_price


def volume_profile(
    trades: Sequence[Trade], slices: int, start_ms: int, duration_ms: int
) -> list[Decimal]:
    """Base volume of the trades in each of ``slices`` equal parts of the ``duration_ms``
    before ``start_ms`` (the profile the next ``duration_ms`` is expected to follow)."""
    weights = [ZERO] * slices
    if duration_ms <= 0:
        return weights
    begin = start_ms - duration_ms
    for trade in trades:
        at = trade.envelope.event_time_ms
        if begin <= at < start_ms:
            weights[(at - begin) * slices // duration_ms] += trade.size_base
    return weights


# ------------------------------------------------------------------------------- releasing


def due(entry: ExecutionPlan, at_ms: int) -> PlannedChild | None:
    """The next child if it may be released at ``at_ms`` (None: none left, not yet, or past
    the deadline)."""
    if entry.next_child >= len(entry.children):
        return None
    if entry.deadline_ms is not None and at_ms >= entry.deadline_ms:
        return None
    child = entry.children[entry.next_child]
    return child if at_ms >= child.release_ms else None


def finished(entry: ExecutionPlan, at_ms: int) -> bool:
    """No child will be released any more (all sent, or the deadline passed)."""
    return entry.next_child >= len(entry.children) or (
        entry.deadline_ms is not None and at_ms >= entry.deadline_ms
    )


def released(entry: ExecutionPlan) -> ExecutionPlan:
    """The plan after its next child was sent."""
    return entry.model_copy(update={"next_child": entry.next_child + 1})


def retry_post_only(
    entry: ExecutionPlan, child: PlannedChild
) -> tuple[ExecutionPlan, PlannedChild]:
    """A rejected post-only child again at the passive price (one retry fewer left)."""
    if entry.post_only_retries <= 0 or entry.passive_price is None:
        raise PlanError("no post-only retry left")
    again = child.model_copy(update={"limit_price": entry.passive_price})
    return entry.model_copy(update={"post_only_retries": entry.post_only_retries - 1}), again


def child_order(
    child: PlannedChild,
    *,
    signal_id: str,
    leg_index: int,
    slice_index: int,
    instrument: InstrumentRef,
    side: Side,
    at_ms: int,
    causation_id: str | None = None,
) -> SubmitOrder:
    """The entry order of ``child`` as slice ``slice_index`` of the leg (deterministic id)."""
    cid = client_order_id(OrderKey(signal_id, leg_index, slice_index, OrderPurpose.ENTRY)).hex
    return SubmitOrder(
        envelope=Envelope(
            event_id=derived_id("submit", cid),
            event_time_ms=at_ms,
            ingest_time_ms=at_ms,
            correlation_id=signal_id,
            causation_id=causation_id,
        ),
        client_order_id=cid,
        signal_id=signal_id,
        leg_index=leg_index,
        slice_index=slice_index,
        instrument=instrument,
        side=side,
        order_type=child.order_type,
        time_in_force=child.time_in_force,
        size_base=child.size_base,
        limit_price=child.limit_price,
        reduce_only=False,
        purpose=OrderPurpose.ENTRY,
    )


def child_orders(
    entry: ExecutionPlan,
    *,
    signal_id: str,
    leg_index: int,
    first_slice: int,
    instrument: InstrumentRef,
    side: Side,
) -> list[tuple[SubmitOrder, int]]:
    """Every child as the order it becomes when released in turn (slices from
    ``first_slice``), with its release time."""
    return [
        (
            child_order(
                child,
                signal_id=signal_id,
                leg_index=leg_index,
                slice_index=first_slice + i,
                instrument=instrument,
                side=side,
                at_ms=child.release_ms,
            ),
            child.release_ms,
        )
        for i, child in enumerate(entry.children)
    ]
