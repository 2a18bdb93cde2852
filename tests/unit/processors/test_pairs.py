"""The two-leg coordinator: hedge from actual fills, retry or unwind, close both legs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.pairs import CloseRequested
from processors.pairs import LegLot
from processors.pairs import OrderSettled
from processors.pairs import PairRefused
from processors.pairs import apply
from processors.pairs import held_base
from processors.pairs import open_pair
from schemas.records.arb import OpportunityLeg
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Side
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.execution import PairStatus
from schemas.records.execution import PairUpdate
from schemas.records.execution import SubmitOrder
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome

D = Decimal
T = 1_767_225_600_000
LOTS = (LegLot(D("0.001"), D("0.001")), LegLot(D("0.01"), D("0.01")))


def decision(size: str = "0.5", outcome: RiskOutcome = RiskOutcome.APPROVED) -> RiskDecision:
    legs = tuple(
        OpportunityLeg(
            instrument=InstrumentRef(
                exchange=ex, symbol="BTC/USDT:USDT", market_type=MarketType.PERP
            ),
            side=side,
            entry_price=D("95000"),
            fee_rate_bps=D("5"),
        )
        for ex, side in (("sim-okx", Side.BUY), ("sim-bybit", Side.SELL))
    )
    return RiskDecision(
        envelope=Envelope(event_id="e-1", event_time_ms=T, ingest_time_ms=T),
        decision_id="dec-1",
        opportunity_id="opp-1",
        outcome=outcome,
        reasons=(),
        legs=legs,
        approved_size_base=D(size),
        approved_notional_quote=D(size) * 95000,
    )


def settle(
    pair: PairUpdate, order: SubmitOrder, filled: str, status: OrderStatus = OrderStatus.FILLED
) -> tuple[PairUpdate, tuple[SubmitOrder, ...]]:
    event = OrderSettled(
        order.client_order_id, order.leg_index, order.purpose, status, D(filled), D("95000"), T + 1
    )
    return apply(pair, event)


def test_the_first_order_is_leg_0_at_the_size_both_lots_accept() -> None:
    pair, (order,) = open_pair(decision("0.5057"), LOTS)
    assert pair.status is PairStatus.ENTERING
    assert pair.target_size_base == D("0.5")  # rounded down to the coarser lot (0.01)
    assert (order.leg_index, order.side, order.size_base, order.purpose) == (
        0, Side.BUY, D("0.5"), OrderPurpose.ENTRY,
    )  # fmt: skip
    assert pair.legs[0].working_client_order_id == order.client_order_id


def test_the_hedge_is_sized_from_the_entry_fill_rounded_to_its_lot() -> None:
    pair, (a,) = open_pair(decision(), LOTS)
    pair, (b,) = settle(pair, a, "0.317", OrderStatus.EXPIRED)  # IOC remainder expired
    assert pair.status is PairStatus.HEDGING
    assert (b.leg_index, b.side, b.size_base) == (1, Side.SELL, D("0.31"))
    pair, (unwind,) = settle(pair, b, "0.31")
    # 0.007 of leg 0 cannot be hedged on a 0.01 lot: it is unwound, never left naked
    assert pair.status is PairStatus.UNWINDING
    assert (unwind.leg_index, unwind.side, unwind.size_base, unwind.reduce_only) == (
        0, Side.SELL, D("0.007"), True,
    )  # fmt: skip
    pair, more = settle(pair, unwind, "0.007")
    assert more == ()
    assert pair.status is PairStatus.HEDGED
    assert held_base(pair.legs[0]) == held_base(pair.legs[1]) == D("0.31")


def test_a_short_hedge_is_retried_then_the_rest_unwound() -> None:
    pair, (a,) = open_pair(decision(), LOTS)
    pair, (b,) = settle(pair, a, "0.5")
    ids = {a.client_order_id, b.client_order_id}
    for _ in range(3):  # three retries, each for what is still unhedged
        pair, (b,) = settle(pair, b, "0", OrderStatus.REJECTED)
        assert b.leg_index == 1
        assert b.size_base == D("0.5")
        ids.add(b.client_order_id)
    pair, (unwind,) = settle(pair, b, "0", OrderStatus.REJECTED)
    assert (unwind.leg_index, unwind.purpose, unwind.size_base) == (
        0,
        OrderPurpose.UNWIND,
        D("0.5"),
    )
    ids.add(unwind.client_order_id)
    assert len(ids) == 6  # every order its own client id
    pair, _ = settle(pair, unwind, "0.5")
    assert pair.status is PairStatus.UNWOUND
    assert held_base(pair.legs[0]) == 0


def test_an_entry_that_fills_nothing_rejects_the_pair() -> None:
    pair, (a,) = open_pair(decision(), LOTS)
    pair, out = settle(pair, a, "0", OrderStatus.REJECTED)
    assert (pair.status, out) == (PairStatus.REJECTED, ())
    with pytest.raises(PairRefused):
        settle(pair, a, "0")


def test_a_size_no_venue_accepts_is_rejected_before_any_order() -> None:
    pair, out = open_pair(decision("0.004"), LOTS)
    assert (pair.status, out) == (PairStatus.REJECTED, ())


def test_a_close_closes_both_legs_reduce_only() -> None:
    pair, (a,) = open_pair(decision(), LOTS)
    pair, (b,) = settle(pair, a, "0.5")
    pair, _ = settle(pair, b, "0.5")
    assert pair.status is PairStatus.HEDGED
    pair, closes = apply(pair, CloseRequested("edge gone", T + 2))
    assert pair.status is PairStatus.CLOSING
    assert [(c.leg_index, c.side, c.size_base, c.reduce_only) for c in closes] == [
        (0, Side.SELL, D("0.5"), True), (1, Side.BUY, D("0.5"), True),
    ]  # fmt: skip
    pair, _ = settle(pair, closes[0], "0.5")
    assert pair.status is PairStatus.CLOSING  # leg 1 still working
    pair, _ = settle(pair, closes[1], "0.5")
    assert pair.status is PairStatus.CLOSED


def test_a_foreign_or_repeated_report_is_refused() -> None:
    pair, (a,) = open_pair(decision(), LOTS)
    after, _ = settle(pair, a, "0.5")
    with pytest.raises(PairRefused):
        settle(after, a, "0.5")  # the entry is no longer working
    with pytest.raises(PairRefused):
        open_pair(decision(outcome=RiskOutcome.REJECTED), LOTS)


def test_redelivery_gives_the_same_orders() -> None:
    first = open_pair(decision(), LOTS)
    second = open_pair(decision(), LOTS)
    assert first == second


def test_pair_updates_round_trip_through_the_codec() -> None:
    from schemas.codec import Codec
    from schemas.registry import InMemoryRegistry
    from schemas.topics import EXEC_PAIR

    pair, (a,) = open_pair(decision(), LOTS)
    pair, _ = settle(pair, a, "0.317")
    codec = Codec(InMemoryRegistry())
    assert codec.decode(codec.encode(pair, EXEC_PAIR)) == pair
