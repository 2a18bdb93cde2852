"""Properties of sizing (monotone in depth, limits and balances) and risk rejections."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from processors.risk import ControlState
from processors.risk import evaluate
from processors.sizing import Limits
from processors.sizing import Portfolio
from processors.sizing import SizingLeg
from processors.sizing import size_caps
from processors.units import InstrumentKey
from schemas.records.arb import CostBreakdown
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.arb import OpportunityLeg
from schemas.records.arb import SpreadKind
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Side
from schemas.records.risk import RiskReasonCode as Code

D = Decimal

SPOT = InstrumentKey("a", "BTC/USDT")
PERP = InstrumentKey("b", "BTC/USDT:USDT")
money = st.decimals(min_value=0, max_value=D(1_000_000), places=2)
price = st.decimals(min_value=D(1), max_value=D(100_000), places=2)
LIMIT_FIELDS = (
    "max_symbol_notional_quote",
    "max_venue_notional_quote",
    "max_asset_notional_quote",
    "max_total_notional_quote",
)


@st.composite
def limits(draw: st.DrawFn) -> Limits:
    notional: dict[str, Any] = {name: draw(money) for name in LIMIT_FIELDS}
    return Limits(
        **notional,
        max_leverage=draw(st.decimals(min_value=1, max_value=20, places=1)),
        margin_buffer=draw(st.decimals(min_value=0, max_value=D("0.9"), places=2)),
    )


@st.composite
def portfolios(draw: st.DrawFn) -> Portfolio:
    return Portfolio(
        {SPOT: draw(money), PERP: draw(money)},
        {"a": draw(money), "b": draw(money)},
    )


def _legs(p: D) -> list[SizingLeg]:
    return [SizingLeg(SPOT, MarketType.SPOT, p), SizingLeg(PERP, MarketType.PERP, p)]


@given(price, money, money, limits(), portfolios())
def test_size_is_monotone_in_depth(p: D, d1: D, d2: D, lim: Limits, pf: Portfolio) -> None:
    small, large = sorted((d1, d2))
    assert (
        size_caps(_legs(p), small, pf, lim).size_base
        <= size_caps(_legs(p), large, pf, lim).size_base
    )


@given(price, money, limits(), portfolios(), st.sampled_from(LIMIT_FIELDS), money)
def test_size_is_monotone_in_every_limit(
    p: D, depth: D, lim: Limits, pf: Portfolio, name: str, extra: D
) -> None:
    change: dict[str, Any] = {name: getattr(lim, name) + extra}
    looser = replace(lim, **change)
    assert (
        size_caps(_legs(p), depth, pf, lim).size_base
        <= size_caps(_legs(p), depth, pf, looser).size_base
    )


@given(price, money, limits(), portfolios(), money)
def test_size_is_monotone_in_balance(p: D, depth: D, lim: Limits, pf: Portfolio, extra: D) -> None:
    richer = replace(
        pf, available_balance_quote={k: v + extra for k, v in pf.available_balance_quote.items()}
    )
    assert (
        size_caps(_legs(p), depth, pf, lim).size_base
        <= size_caps(_legs(p), depth, richer, lim).size_base
    )


def _opportunity(p: D, size: D) -> Opportunity:
    """An ``arb.opportunity`` record with a positive edge, both legs at ``p`` quoted at 0."""

    def leg(key: InstrumentKey, market_type: MarketType, side: Side) -> OpportunityLeg:
        ref = InstrumentRef(exchange=key.exchange, symbol=key.symbol, market_type=market_type)
        return OpportunityLeg(
            instrument=ref, side=side, entry_price=p, fee_rate_bps=D(0), quote_time_ms=0
        )

    zero = D(0)
    return Opportunity(
        envelope=Envelope(event_id="e", event_time_ms=0, ingest_time_ms=0),
        opportunity_id="id",
        lifecycle=Lifecycle.OPENED,
        kind=SpreadKind.SPOT_PERP,
        base_asset="BTC",
        legs=(leg(SPOT, MarketType.SPOT, Side.BUY), leg(PERP, MarketType.PERP, Side.SELL)),
        gross_edge_bps=D(1),
        net_edge_bps=D(1),
        net_apr_bps=D(1),
        horizon_ms=1,
        costs=CostBreakdown(
            entry_fees_quote=zero,
            exit_fees_quote=zero,
            slippage_quote=zero,
            funding_over_horizon_quote=zero,
            spread_cost_to_close_quote=zero,
            total_cost_quote=zero,
        ),
        max_size_base=size,
        max_notional_quote=size * p,
        risk_score=zero,
        time_to_next_funding_ms=0,
    )


@given(
    price,
    st.sets(st.sampled_from(LIMIT_FIELDS)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_rejection_lists_every_failing_limit(
    p: D, zeroed: set[str], kill: bool, stale: bool, broke: bool
) -> None:
    huge: dict[str, Any] = {name: D(10) ** 12 for name in LIMIT_FIELDS}
    generous = Limits(**huge)
    zero: dict[str, Any] = {name: D(0) for name in zeroed}
    lim = replace(generous, **zero)
    balance = D(0) if broke else D(10) ** 12
    pf = Portfolio({}, {"a": balance, "b": balance})
    control = ControlState(lim, kill_switch=kill)
    now = lim.max_quote_age_ms + 1 if stale else 0
    decision = evaluate(_opportunity(p, D(1000)), pf, control, now)
    codes = {reason.code for reason in decision.reasons}
    expected = {
        Code(f.replace("max_", "").replace("_notional_quote", "").upper() + "_LIMIT_EXCEEDED")
        for f in zeroed
    }
    expected |= {Code.KILL_SWITCH_ENGAGED} if kill else set()
    expected |= {Code.STALE_MARKET_DATA} if stale else set()
    expected |= {Code.INSUFFICIENT_BALANCE} if broke else set()
    assert codes == expected
    assert decision.approved == (not expected)
    assert (decision.size_base > 0) == decision.approved
