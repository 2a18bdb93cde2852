"""The coordinator under an execution plan: children released by fills and ticks, each slice
hedged as it fills, a rejected post-only order retried or given up, plans resumed from the
stored pair."""

from __future__ import annotations

from decimal import Decimal

from processors.execution_plans import LegTerms
from processors.execution_plans import PlanSpec
from processors.execution_plans import plan
from processors.lots import Lot
from processors.pairs import CloseRequested
from processors.pairs import OrderSettled
from processors.pairs import PairPolicy
from processors.pairs import Tick
from processors.pairs import apply
from processors.pairs import held_base
from processors.pairs import open_pair
from processors.pairs import target_size
from processors.units import Book
from processors.units import BookLevel
from schemas.codec import Codec
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.execution import OrderStatus
from schemas.records.execution import PairStatus
from schemas.records.execution import PairUpdate
from schemas.records.execution import PlanKind
from schemas.records.execution import SubmitOrder
from schemas.registry import InMemoryRegistry
from schemas.topics import EXEC_PAIR
from tests.unit.processors.test_pairs import LOTS
from tests.unit.processors.test_pairs import T
from tests.unit.processors.test_pairs import decision

D = Decimal
STEP = D("0.01")  # the coarser of the two legs' lots
TERMS = LegTerms(
    side=Side.BUY, lot=Lot(D(1), STEP, STEP), tick=D("0.1"),
    expected_price=D("95000"), protective_price=D("95475"),
)  # fmt: skip
BOOK = Book(
    bids=(BookLevel(D("94990"), D("1")),),
    asks=(BookLevel(D("95000"), D("0.2")), BookLevel(D("95010"), D("0.3"))),
    ts_ms=T,
)


def _open(spec: PlanSpec, size: str = "0.5") -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    d = decision(size)
    entry = plan(spec, target_size(d, LOTS), TERMS, start_ms=T, book=BOOK)
    return open_pair(d, LOTS, entry_plan=entry)


def _settle(
    pair: PairUpdate, order: SubmitOrder, filled: Decimal, at: int, status: OrderStatus
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    event = OrderSettled(
        order.client_order_id, order.leg_index, order.purpose, status, filled, D("95000"), at
    )
    return apply(pair, event)


def _fill(
    pair: PairUpdate, order: SubmitOrder, at: int
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    return _settle(pair, order, order.size_base, at, OrderStatus.FILLED)


def test_the_default_plan_sends_one_marketable_ioc_entry_then_hedges() -> None:
    pair, (a,) = _open(PlanSpec())
    assert (a.order_type, a.time_in_force, a.limit_price) == (
        OrderType.LIMIT, TimeInForce.IOC, D("95475"),
    )  # fmt: skip
    assert (a.size_base, a.slice_index) == (D("0.5"), 0)
    pair, (b,) = _fill(pair, a, T + 1)
    assert (pair.status, b.leg_index, b.size_base) == (PairStatus.HEDGING, 1, D("0.5"))
    pair, more = _fill(pair, b, T + 2)
    assert (pair.status, more) == (PairStatus.HEDGED, ())


def test_a_twap_releases_each_slice_at_its_time_after_the_last_is_hedged() -> None:
    pair, (a0,) = _open(PlanSpec(PlanKind.TWAP, slices=3, duration_ms=3_000))
    assert a0.size_base == D("0.17")  # 50 steps: 17, 17, 16
    pair, (h0,) = _fill(pair, a0, T + 10)
    assert h0.size_base == D("0.17")
    pair, none = _fill(pair, h0, T + 20)
    assert (pair.status, none) == (PairStatus.ENTERING, ())  # slice 1 is due at T + 1000
    assert apply(pair, Tick(T + 999)) == (pair, ())  # nothing due: the same pair, no change
    pair, (a1,) = apply(pair, Tick(T + 1_000))
    assert (a1.size_base, a1.slice_index) == (D("0.17"), 1)
    pair, (h1,) = _fill(pair, a1, T + 1_010)
    pair, _ = _fill(pair, h1, T + 1_020)
    pair, (a2,) = apply(pair, Tick(T + 2_500))
    assert a2.size_base == D("0.16")
    pair, (h2,) = _fill(pair, a2, T + 2_510)
    pair, _ = _fill(pair, h2, T + 2_520)
    assert pair.status is PairStatus.HEDGED
    assert held_base(pair.legs[0]) == held_base(pair.legs[1]) == D("0.5")
    ids = {o.client_order_id for o in (a0, a1, a2, h0, h1, h2)}
    assert len(ids) == 6


def test_a_partial_slice_below_the_hedge_lot_is_carried_to_the_next_hedge() -> None:
    pair, (a0,) = _open(PlanSpec(PlanKind.TWAP, slices=2, duration_ms=1_000))
    pair, (h0,) = _settle(pair, a0, D("0.245"), T + 1, OrderStatus.EXPIRED)
    assert h0.size_base == D("0.24")  # the hedge lot is 0.01; 0.005 waits
    pair, () = _fill(pair, h0, T + 2)
    pair, (a1,) = apply(pair, Tick(T + 500))
    pair, (h1,) = _fill(pair, a1, T + 501)
    assert h1.size_base == D("0.255") - D("0.005")  # 0.25 filled + 0.005 carried, on the lot
    pair, (u,) = _fill(pair, h1, T + 502)
    # 0.005 is below the hedge lot but a lot of leg 0 (0.001): it is unwound, not left naked
    assert (pair.status, u.leg_index, u.size_base, u.reduce_only) == (
        PairStatus.UNWINDING, 0, D("0.005"), True,
    )  # fmt: skip
    pair, none = _fill(pair, u, T + 503)
    assert (pair.status, none) == (PairStatus.HEDGED, ())
    assert held_base(pair.legs[0]) == held_base(pair.legs[1]) == D("0.49")


def test_an_iceberg_shows_at_most_its_display_size_and_refills_on_each_fill() -> None:
    spec = PlanSpec(PlanKind.ICEBERG, display_size_base=D("0.2"), duration_ms=60_000)
    pair, (a,) = _open(spec)
    shown = [a.size_base]
    while pair.status is not PairStatus.HEDGED:
        pair, (h,) = _fill(pair, a, T + len(shown))
        pair, after = _fill(pair, h, T + len(shown))
        if after:
            (a,) = after
            shown.append(a.size_base)
    assert shown == [D("0.2"), D("0.2"), D("0.1")]
    assert a.time_in_force is TimeInForce.GTC


def test_a_rejected_post_only_is_retried_at_the_passive_price_then_given_up() -> None:
    spec = PlanSpec(PlanKind.POST_ONLY, duration_ms=60_000, post_only_retries=1)
    pair, (a,) = _open(spec)
    assert (a.time_in_force, a.limit_price) == (TimeInForce.POST_ONLY, D("95000"))
    pair, (again,) = _settle(pair, a, D(0), T + 1, OrderStatus.REJECTED)
    assert again.limit_price == D("94990")  # the best bid when planned
    assert again.slice_index == 1
    pair, none = _settle(pair, again, D(0), T + 2, OrderStatus.REJECTED)
    assert (pair.status, none) == (PairStatus.REJECTED, ())
    assert "post-only" in (pair.detail or "")


def test_a_post_only_without_retries_ends_rejected() -> None:
    pair, (a,) = _open(PlanSpec(PlanKind.POST_ONLY, duration_ms=60_000))
    pair, none = _settle(pair, a, D(0), T + 1, OrderStatus.REJECTED)
    assert (pair.status, none) == (PairStatus.REJECTED, ())


def test_levels_send_one_child_per_level_up_to_the_target() -> None:
    pair, (a0,) = _open(PlanSpec(PlanKind.LEVELS, slices=0), size="0.4")
    assert (a0.size_base, a0.limit_price) == (D("0.2"), D("95000"))
    pair, (h0,) = _fill(pair, a0, T + 1)
    pair, (a1,) = _fill(pair, h0, T + 2)
    assert (a1.size_base, a1.limit_price) == (D("0.2"), D("95010"))
    pair, (h1,) = _fill(pair, a1, T + 3)
    pair, none = _fill(pair, h1, T + 4)
    assert (pair.status, none) == (PairStatus.HEDGED, ())


def test_a_hedge_short_past_its_retries_abandons_the_plan_and_unwinds() -> None:
    pair, (a0,) = _open(PlanSpec(PlanKind.TWAP, slices=2, duration_ms=1_000))
    pair, (h,) = _fill(pair, a0, T + 1)
    policy = PairPolicy(max_hedge_retries=1)

    def reject(order: SubmitOrder, at: int) -> OrderSettled:
        cid, purpose = order.client_order_id, order.purpose
        return OrderSettled(cid, 1, purpose, OrderStatus.REJECTED, D(0), None, at)

    pair, (h,) = apply(pair, reject(h, T + 2), policy)
    pair, (u,) = apply(pair, reject(h, T + 3), policy)
    assert pair.status is PairStatus.UNWINDING
    assert (u.leg_index, u.reduce_only) == (0, True)
    assert pair.entry_plan is not None
    assert pair.entry_plan.next_child == len(pair.entry_plan.children)  # no more slices


def test_a_stored_plan_decodes_to_the_same_pair() -> None:
    pair, _ = _open(PlanSpec(PlanKind.TWAP, slices=4, duration_ms=8_000))
    codec = Codec(InMemoryRegistry())
    assert codec.decode_as(codec.encode(pair, EXEC_PAIR), PairUpdate) == pair


def test_a_close_while_a_twap_enters_stops_its_slices_then_closes_once_hedged() -> None:
    pair, (a0,) = _open(PlanSpec(PlanKind.TWAP, slices=3, duration_ms=3_000))
    pair, (h0,) = _fill(pair, a0, T + 1)
    pair, none = apply(pair, CloseRequested("SPREAD_CONVERGED", T + 2))
    assert none == ()
    pair, none = _fill(pair, h0, T + 3)  # no slice follows: the plan is finished
    assert (pair.status, none) == (PairStatus.HEDGED, ())
    assert apply(pair, Tick(T + 5_000)) == (pair, ())
    pair, closes = apply(pair, CloseRequested("SPREAD_CONVERGED", T + 6))
    assert pair.status is PairStatus.CLOSING
    assert sorted(o.size_base for o in closes) == [D("0.17"), D("0.17")]
