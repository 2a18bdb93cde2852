"""Properties of depth walks, spreads, the cost model and edges on generated valid books."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume
from hypothesis import given
from hypothesis import strategies as st

from processors.books import max_size_within_slippage
from processors.books import validate_book
from processors.books import walk_book
from processors.costs import CostLeg
from processors.costs import estimate_costs
from processors.detection import SPREAD_KINDS
from processors.detection import Candidate
from processors.detection import DetectionConfig
from processors.detection import evaluate
from processors.opportunities import OpportunityEvent
from processors.opportunities import TrackedOpportunity
from processors.records import opportunity_record
from processors.spreads import funding_differential
from processors.spreads import price_spread
from processors.spreads import price_spread_bps
from processors.units import LEG_SIDES
from processors.units import ORDER_SIDES
from processors.units import Book
from processors.units import BookLevel
from processors.units import BorrowRate
from processors.units import FeeSchedule
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import InstrumentKey
from processors.units import InstrumentState
from processors.units import Liquidity
from schemas.records.arb import Lifecycle
from schemas.records.arb import SpreadKind
from schemas.records.common import MarketType
from schemas.records.common import PositionSide
from schemas.records.common import Side

D = Decimal

H = 3_600_000
prices = st.decimals(min_value=D("0.01"), max_value=D(100_000), places=2)
steps = st.decimals(min_value=D("0.01"), max_value=D(50), places=2)
sizes = st.decimals(min_value=D("0.001"), max_value=D(100), places=3)
fee_rates = st.decimals(min_value=D("-0.0002"), max_value=D("0.002"), places=5)
rates = st.decimals(min_value=D("-0.003"), max_value=D("0.003"), places=6)


@st.composite
def books(draw: st.DrawFn) -> Book:
    bid = draw(st.decimals(min_value=D(10), max_value=D(100_000), places=2))
    ask = bid + draw(steps)
    bids, asks = [bid], [ask]
    for _ in range(draw(st.integers(0, 5))):
        bids.append(bids[-1] - draw(st.decimals(min_value=D("0.01"), max_value=D(1), places=2)))
        asks.append(asks[-1] + draw(steps))
    return validate_book(
        Book(
            bids=tuple(BookLevel(p, draw(sizes)) for p in bids),
            asks=tuple(BookLevel(p, draw(sizes)) for p in asks),
            ts_ms=0,
        )
    )


@given(books(), st.sampled_from(ORDER_SIDES), sizes)
def test_average_price_lies_between_the_best_and_worst_level(
    book: Book, side: Side, size: D
) -> None:
    fill = walk_book(book, side, size_base=size)
    low, high = sorted((fill.best_price, fill.worst_price))
    assert low <= fill.avg_price <= high
    assert fill.slippage_quote >= 0
    assert fill.filled_base <= size
    assert fill.complete == (fill.filled_base == size)


@given(books(), st.sampled_from(ORDER_SIDES), st.decimals(min_value=0, max_value=500, places=2))
def test_max_size_respects_the_slippage_bound_and_grows_with_it(
    book: Book, side: Side, bound: D
) -> None:
    size = max_size_within_slippage(book.levels(side), side, bound)
    assert size >= book.levels(side)[0].size_base
    assert walk_book(book, side, size_base=size).slippage_bps <= bound + D("1e-18")
    assert max_size_within_slippage(book.levels(side), side, bound * 2) >= size


@given(prices, prices)
def test_price_spread_is_antisymmetric(a: D, b: D) -> None:
    assert price_spread_bps(a, b) == -price_spread_bps(b, a)


@given(books(), books())
def test_swapping_legs_flips_the_mid_spread_and_execution_loses_the_round_trip(
    a: Book, b: Book
) -> None:
    ab, ba = price_spread(a, b), price_spread(b, a)
    assert ab.mid_bps == -ba.mid_bps
    assert ab.executable_bps is not None
    assert ba.executable_bps is not None
    assert ab.executable_bps < ab.mid_bps
    assert ab.executable_bps + ba.executable_bps < 0


@given(rates, rates, st.sampled_from([H, 4 * H, 8 * H]), st.sampled_from([H, 4 * H, 8 * H]))
def test_funding_differential_is_antisymmetric(r1: D, r2: D, i1: int, i2: int) -> None:
    f1, f2 = FundingRate(r1, i1), FundingRate(r2, i2)
    assert funding_differential(f1, f2).per_hour == -funding_differential(f2, f1).per_hour
    assert funding_differential(f1, f2).apr_simple == -funding_differential(f2, f1).apr_simple


def _state(key: str, kind: MarketType, book: Book, fees: FeeSchedule, rate: D) -> InstrumentState:
    funding = (
        FundingSchedule(FundingRate(rate, 8 * H), H, book.mid) if kind is MarketType.PERP else None
    )
    borrow = BorrowRate(abs(rate), 24 * H) if kind is MarketType.SPOT else None
    return InstrumentState(
        InstrumentKey(key, "BTC/USDT:USDT"), kind, book, fees, funding, borrow=borrow
    )


@given(
    books(),
    books(),
    st.tuples(fee_rates, fee_rates),
    rates,
    st.sampled_from(LEG_SIDES),
    st.sampled_from(list(Liquidity)),
    st.integers(0, 72 * H),
)
def test_every_cost_component_is_never_negative(
    a: Book,
    b: Book,
    fees: tuple[D, D],
    rate: D,
    side: PositionSide,
    liquidity: Liquidity,
    horizon: int,
) -> None:
    size = min(
        sum((level.size_base for level in side_levels), D(0))
        for book in (a, b)
        for side_levels in (book.bids, book.asks)
    )
    schedule = FeeSchedule(*fees)
    hedge = PositionSide.SHORT if side is PositionSide.LONG else PositionSide.LONG
    legs = [
        CostLeg(_state("x", MarketType.SPOT, a, schedule, rate), side, liquidity, liquidity),
        CostLeg(_state("y", MarketType.PERP, b, schedule, rate), hedge, liquidity),
    ]
    c = estimate_costs(legs, size, 0, horizon)
    for components in (c.quote, c.bps):
        values = (
            components.entry_fees,
            components.exit_fees,
            components.entry_slippage,
            components.exit_slippage,
            components.spread_cost,
            components.funding_paid,
            components.borrow,
        )
        assert all(v >= 0 for v in values)
    assert c.rebate_quote >= 0
    assert c.funding_received_quote >= 0


@given(books(), books(), fee_rates, rates, rates, st.sampled_from(SPREAD_KINDS))
def test_net_edge_never_exceeds_gross_edge(
    a: Book, b: Book, fee: D, ra: D, rb: D, kind: SpreadKind
) -> None:
    fees = FeeSchedule(fee, fee)
    long_kind = MarketType.SPOT if kind is SpreadKind.SPOT_PERP else MarketType.PERP
    long = _state("x", long_kind, a, fees, ra)
    short = _state("y", MarketType.PERP, b, fees, rb)
    view = {long.key: long, short.key: short}
    ev = evaluate(Candidate(kind, long.key, short.key), view, 0, DetectionConfig())
    assume(ev is not None)
    assert ev is not None
    assert ev.net_edge_quote <= ev.gross_edge_quote
    assert ev.net_edge_bps <= ev.gross_edge_bps
    assert ev.net_edge_apr <= ev.gross_edge_apr
    assert 0 <= ev.risk_score <= 1


@given(
    books(),
    books(),
    fee_rates,
    rates,
    rates,
    st.sampled_from(SPREAD_KINDS),
    st.booleans(),
)
def test_the_wire_total_cost_is_the_sum_of_its_parts(
    a: Book, b: Book, fee: D, ra: D, rb: D, kind: SpreadKind, reverse: bool
) -> None:
    fees = FeeSchedule(fee, fee)
    spot_kind = MarketType.SPOT if kind is SpreadKind.SPOT_PERP else MarketType.PERP
    if reverse:  # reverse carry: the short leg sells borrowed spot coins and pays interest
        long = _state("x", MarketType.PERP, a, fees, ra)
        short = _state("y", spot_kind, b, fees, rb)
    else:
        long = _state("x", spot_kind, a, fees, ra)
        short = _state("y", MarketType.PERP, b, fees, rb)
    view = {long.key: long, short.key: short}
    candidate = Candidate(kind, long.key, short.key)
    ev = evaluate(candidate, view, 0, DetectionConfig())
    assume(ev is not None)
    assert ev is not None
    opp = TrackedOpportunity("id", candidate, 0, 0, ev, ev.carry_sign)
    costs = opportunity_record(OpportunityEvent(Lifecycle.OPENED, opp, 0), view, "BTC", None).costs
    parts = (
        costs.entry_fees_quote,
        costs.exit_fees_quote,
        costs.slippage_quote,
        costs.funding_over_horizon_quote,
        costs.spread_cost_to_close_quote,
        costs.borrow_quote if costs.borrow_quote is not None else D(0),
    )
    assert costs.total_cost_quote == sum(parts, D(0))
    if reverse and kind is SpreadKind.SPOT_PERP and rb != 0:
        assert costs.borrow_quote is not None
        assert costs.borrow_quote > 0
    # and the domain figure it is cut from: net edge = convergence edge - total cost
    convergence = ev.gross_edge_quote - ev.costs.funding_received_quote
    assert abs(ev.net_edge_quote - (convergence - ev.costs.total_net_quote)) <= D("1e-18")
    assert abs(costs.total_cost_quote - ev.costs.total_net_quote) <= D("3e-18")


@given(
    books(),
    books(),
    fee_rates,
    st.decimals(min_value=D("0.000001"), max_value=D("0.003"), places=6),
    st.integers(0, 200 * H),
)
def test_break_even_within_the_horizon_iff_its_funding_pays_the_costs(
    a: Book, b: Book, fee: D, rate: D, horizon: int
) -> None:
    fees = FeeSchedule(fee, fee)
    legs = [
        CostLeg(_state("x", MarketType.SPOT, a, fees, rate), PositionSide.LONG),
        CostLeg(_state("y", MarketType.PERP, b, fees, rate), PositionSide.SHORT),
    ]
    size = min(
        book.levels(side)[0].size_base for book in (a, b) for side in ORDER_SIDES
    )  # the touch
    c = estimate_costs(legs, size, 0, horizon)
    assert c.break_even_hours is not None
    within = c.break_even_hours * H <= horizon
    assert within == (c.funding_received_quote >= c.quote.one_off)
