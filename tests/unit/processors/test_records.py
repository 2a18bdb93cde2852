"""The wire mapping of an opportunity: its cost record adds up, figures computed by hand."""

from __future__ import annotations

from decimal import Decimal

from processors.detection import DetectionConfig
from processors.opportunities import OpportunityBook
from processors.opportunities import step
from processors.records import funding_of
from processors.records import opportunity_record
from processors.units import Book
from processors.units import BookLevel
from processors.units import FeeSchedule
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import InstrumentKey
from processors.units import InstrumentState
from schemas.records import arb
from schemas.records.arb import Lifecycle
from schemas.records.common import MarketType
from schemas.records.md import FundingRateUpdate
from schemas.samples import sample

D = Decimal

H = 3_600_000
SPOT = InstrumentKey("a", "BTC/USDT")
PERP = InstrumentKey("a", "BTC/USDT:USDT")
FEES = FeeSchedule(D("0.0001"), D("0.0001"))


def _book() -> Book:
    return Book((BookLevel(D("99.99"), D(1000)),), (BookLevel(D("100.01"), D(1000)),), 0)


def _carry_record() -> arb.Opportunity:
    funding = FundingSchedule(FundingRate(D("0.0005"), 8 * H), H, D(100))
    view = {
        SPOT: InstrumentState(SPOT, MarketType.SPOT, _book(), FEES),
        PERP: InstrumentState(PERP, MarketType.PERP, _book(), FEES, funding),
    }
    _, (event,) = step(OpportunityBook(), view, 0, DetectionConfig())
    assert event.kind is Lifecycle.OPENED
    return opportunity_record(event, view, "BTC", None)


def sum_of_parts(costs: arb.CostBreakdown) -> Decimal:
    return (
        costs.entry_fees_quote
        + costs.exit_fees_quote
        + costs.slippage_quote
        + costs.funding_over_horizon_quote
        + costs.spread_cost_to_close_quote
        + (costs.borrow_quote or 0)
    )


def test_carry_total_cost_nets_the_funding_received() -> None:
    # size 100 at 1 bp taker on ~100 per leg: entry 1.0001 + 0.9999, exit 0.9999 + 1.0001;
    # spread 100 * 0.02 * 2 legs = 4; funding 3 settlements (1 h, 9 h, 17 h) * 0.0005 * 10,000
    # = 15 received, so -15 on the wire; total 2 + 2 + 0 - 15 + 4 = -7 = -(net edge of 7 quote)
    costs = _carry_record().costs
    assert costs.entry_fees_quote == D(2)
    assert costs.exit_fees_quote == D(2)
    assert costs.slippage_quote == 0
    assert costs.funding_over_horizon_quote == D(-15)
    assert costs.spread_cost_to_close_quote == D(4)
    assert costs.total_cost_quote == D(-7)
    assert costs.total_cost_quote == sum_of_parts(costs)


def test_funding_of_carries_the_mark_price() -> None:
    record = sample(FundingRateUpdate).model_copy(
        update={
            "funding_rate": D("0.0001"),
            "funding_interval_ms": 8 * H,
            "next_funding_time_ms": 16 * H,
            "mark_price": D("64000.5"),
        }
    )
    schedule = funding_of(record)
    assert schedule == FundingSchedule(FundingRate(D("0.0001"), 8 * H), 16 * H, D("64000.5"))


def test_a_close_for_lost_liquidity_is_named_so_on_the_wire() -> None:
    """Before the wire had NO_LIQUIDITY it was folded into EDGE_BELOW_THRESHOLD."""
    funding = FundingSchedule(FundingRate(D("0.0005"), 8 * H), H, D(100))
    view = {
        SPOT: InstrumentState(SPOT, MarketType.SPOT, _book(), FEES),
        PERP: InstrumentState(PERP, MarketType.PERP, _book(), FEES, funding),
    }
    book, _ = step(OpportunityBook(), view, 0, DetectionConfig())
    no_size = Book((BookLevel(D("99.99"), D(0)),), (BookLevel(D("100.01"), D(0)),), 1)
    drained = {**view, PERP: InstrumentState(PERP, MarketType.PERP, no_size, FEES, funding)}
    _, (closed,) = step(book, drained, 1, DetectionConfig())
    record = opportunity_record(closed, drained, "BTC", None)
    assert record.lifecycle is Lifecycle.CLOSED
    assert record.close_reason is arb.CloseReason.NO_LIQUIDITY
