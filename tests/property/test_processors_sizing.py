"""Properties of sizing (monotone in depth, limits and balances) and risk rejections."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from processors.costs import CostBreakdown
from processors.costs import CostComponents
from processors.detection import Candidate
from processors.detection import Evaluation
from processors.detection import OpportunityType
from processors.opportunities import Opportunity
from processors.risk import ControlState
from processors.risk import evaluate
from processors.sizing import Limits
from processors.sizing import Portfolio
from processors.sizing import SizingLeg
from processors.sizing import size_caps
from processors.units import InstrumentKey
from processors.units import MarketKind

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
    return [SizingLeg(SPOT, MarketKind.SPOT, p), SizingLeg(PERP, MarketKind.PERP, p)]


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
    zero = CostComponents(*(D(0),) * 6)
    costs = CostBreakdown(size, size * p, 1, zero, zero, D(0), D(0), (), D(0), None, None)
    ev = Evaluation(
        size_base=size,
        depth_size_base=size,
        costs=costs,
        gross_edge_quote=D(1),
        gross_edge_bps=D(1),
        gross_edge_apr=D(1),
        net_edge_quote=D(1),
        net_edge_bps=D(1),
        net_edge_apr=D(1),
        mid_spread_bps=D(0),
        funding=None,
        risk_score=D(0),
        urgency_ms=None,
        quote_ts_ms=(0, 0),
        mids=(p, p),
        kinds=(MarketKind.SPOT, MarketKind.PERP),
    )
    return Opportunity("id", Candidate(OpportunityType.SPOT_PERP, SPOT, PERP), 0, 0, ev, 1)


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
    codes = {code for code, _ in decision.reasons}
    expected = {
        f.replace("max_", "").replace("_notional_quote", "").upper() + "_LIMIT" for f in zeroed
    }
    expected |= {"KILL_SWITCH"} if kill else set()
    expected |= {"STALE_QUOTE"} if stale else set()
    expected |= {"BALANCE"} if broke else set()
    assert codes == expected
    assert decision.approved == (not expected)
    assert (decision.size_base > 0) == decision.approved
