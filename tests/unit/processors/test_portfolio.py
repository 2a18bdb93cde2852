"""Portfolio accounting by hand: average cost, funding once per settlement, and a two-leg round
trip whose PnL components are known to the cent and add up to the total."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.portfolio import Holding
from processors.portfolio import apply
from processors.portfolio import apply_fill
from processors.portfolio import expected_funding
from processors.portfolio import fold
from processors.portfolio import slippage_of
from processors.portfolio import snapshot
from schemas.errors import InvalidEvent
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Money
from schemas.records.common import Side
from schemas.records.execution import Fill
from schemas.records.execution import LiquidityRole

D = Decimal
A = InstrumentRef(exchange="sim-okx", symbol="ETH/USDT:USDT", market_type=MarketType.PERP)
B = InstrumentRef(exchange="sim-bybit", symbol="ETH/USDT:USDT", market_type=MarketType.PERP)
TAKER = D("0.0005")
_n = 0


def fill(ins: InstrumentRef, side: Side, size: str, price: str, fee_rate: Decimal = TAKER) -> Fill:
    global _n
    _n += 1
    fee = (D(price) * D(size) * fee_rate).quantize(D("1e-18"))
    return Fill(
        envelope=Envelope(event_id=f"f{_n}", event_time_ms=_n, ingest_time_ms=_n),
        fill_id=f"fill-{_n}",
        client_order_id=f"c{_n}",
        instrument=ins,
        side=side,
        price=D(price),
        size_base=D(size),
        fee=Money(amount=fee, currency="USDT"),
        liquidity=LiquidityRole.TAKER,
    )


def test_average_cost_then_reduce_then_flip() -> None:
    h = apply_fill(Holding(A), fill(A, Side.BUY, "1", "100", D(0)))
    h = apply_fill(h, fill(A, Side.BUY, "1", "110", D(0)))
    assert (h.net_size_base, h.average_entry_price) == (D(2), D(105))
    h = apply_fill(h, fill(A, Side.SELL, "3", "120", D(0)))
    assert h.realized_pnl_quote == D(30)  # (120 - 105) * 2
    assert (h.net_size_base, h.average_entry_price) == (D(-1), D(120))  # short 1 at the fill
    assert h.unrealized_quote(D(115)) == D(5)


def test_a_fill_without_size_is_refused() -> None:
    bad = fill(A, Side.BUY, "1", "100").model_copy(update={"size_base": D(0)})
    with pytest.raises(InvalidEvent):
        apply_fill(Holding(A), bad)


def test_a_replayed_settlement_is_booked_once() -> None:
    holdings = fold([fill(A, Side.SELL, "1", "120", D(0))])
    paid = expected_funding(
        holdings[("sim-okx", A.symbol)], D("0.0001"), 28_800_000, D(120), 8, "USDT"
    )
    assert paid.amount_quote == D("0.012")  # a short receives a positive rate
    holdings = fold([paid, paid], holdings)
    assert holdings[("sim-okx", A.symbol)].funding_quote == D("0.012")


def test_a_two_leg_round_trip_with_funding_to_the_cent() -> None:
    # entries: long 2 on A at 3001 (expected 3000), short 2 on B at 3009 (expected 3010)
    entry_a, entry_b = fill(A, Side.BUY, "2", "3001"), fill(B, Side.SELL, "2", "3009")
    events: list[Fill | object] = [entry_a, entry_b]
    holdings = fold([entry_a, entry_b])
    # three settlements at constant rates: A +0.01% (the long pays 0.60), B +0.05% (the short
    # receives 3.01), marks 3000 and 3010
    for t in (1, 2, 3):
        at = t * 28_800_000
        for ins, rate, mark in ((A, "0.0001", "3000"), (B, "0.0005", "3010")):
            h = holdings[(ins.exchange, ins.symbol)]
            paid = expected_funding(h, D(rate), 28_800_000, D(mark), at, "USDT")
            holdings, _ = apply(holdings, paid)
            events.append(paid)
    open_pnl = snapshot(
        holdings, {("sim-okx", A.symbol): D(3002), ("sim-bybit", B.symbol): D(3007)},
        scope="pair", at_ms=9, quote_currency="USDT",
    )  # fmt: skip
    assert open_pnl.unrealized_pnl_quote == D(2) + D(4)  # (3002-3001)*2 + (3009-3007)*2
    assert open_pnl.net_exposure_quote == D(6004) - D(6014)
    # exits: sell 2 on A at 3005, buy 2 on B at 3004
    holdings = fold([fill(A, Side.SELL, "2", "3005"), fill(B, Side.BUY, "2", "3004")], holdings)
    slippage = slippage_of(entry_a, D(3000)) + slippage_of(entry_b, D(3010))
    pnl = snapshot(
        holdings, {}, scope="pair", at_ms=10, quote_currency="USDT", slippage_quote=slippage
    )
    assert pnl.realized_pnl_quote == D(18)  # 4 * 2 + 5 * 2
    assert pnl.funding_pnl_quote == D("7.23")  # 3 * (3.01 - 0.60)
    assert pnl.fees_quote == D("12.019")  # 5 bps of 6002, 6018, 6010 and 6008
    assert pnl.slippage_quote == D(4)
    assert pnl.unrealized_pnl_quote == 0
    assert pnl.total_pnl_quote == D("13.211")
    assert pnl.price_pnl_quote == D(22)
    assert (
        pnl.price_pnl_quote + pnl.funding_pnl_quote - pnl.fees_quote - pnl.slippage_quote
        == pnl.total_pnl_quote
    )
    assert pnl.gross_exposure_quote == 0


def test_an_open_holding_without_a_mark_is_refused() -> None:
    holdings = fold([fill(A, Side.BUY, "1", "100")])
    with pytest.raises(InvalidEvent):
        snapshot(holdings, {}, scope="portfolio", at_ms=1, quote_currency="USDT")


prices = st.decimals(min_value=D(1), max_value=D(100_000), places=2)
sizes = st.decimals(min_value=D("0.001"), max_value=D(100), places=3)


@given(
    st.lists(
        st.tuples(st.sampled_from([Side.BUY, Side.SELL]), sizes, prices), min_size=1, max_size=30
    ),
    prices,
)
def test_components_always_add_up_and_a_flat_book_has_no_unrealized(
    trades: list[tuple[Side, Decimal, Decimal]], mark: Decimal
) -> None:
    holdings = fold([fill(A, side, str(size), str(price)) for side, size, price in trades])
    pnl = snapshot(
        holdings, {("sim-okx", A.symbol): mark}, scope="p", at_ms=1, quote_currency="USDT"
    )
    assert (
        pnl.total_pnl_quote
        == pnl.realized_pnl_quote
        + pnl.unrealized_pnl_quote
        + pnl.funding_pnl_quote
        - pnl.fees_quote
    )
    h = holdings[("sim-okx", A.symbol)]
    net = sum((s if side is Side.BUY else -s for side, s, _ in trades), D(0))
    assert h.net_size_base == net
    if net == 0:
        assert pnl.unrealized_pnl_quote == 0
