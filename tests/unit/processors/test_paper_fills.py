"""Paper fills against a recorded book: depth walk, limit, lot, fee, slippage against the touch."""

from __future__ import annotations

from decimal import Decimal

from benchmarks import synthetic as syn
from processors.paper_fills import fill_order
from schemas.records.common import Envelope
from schemas.records.common import OrderType
from schemas.records.common import Side
from schemas.records.common import TimeInForce
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.execution import SubmitOrder

D = Decimal
T = 1_767_225_600_000
SYM = "AAA/USDT:USDT"
# mid 100, half spread 10 bps, 1 bps between levels: asks 100.10, 100.11, 100.12 (2 base each)
BOOK = syn.book("ex", SYM, "100", T, 1, half_spread_bps=D(10), size=D(2), levels=3)


def order(side: Side, size: str, limit: str | None = None) -> SubmitOrder:
    return SubmitOrder(
        envelope=Envelope(event_id="e", event_time_ms=T, ingest_time_ms=T),
        client_order_id="cid-1",
        signal_id="sig",
        leg_index=0,
        slice_index=0,
        instrument=syn.ref("ex", SYM),
        side=side,
        order_type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        time_in_force=TimeInForce.IOC,
        size_base=D(size),
        limit_price=None if limit is None else D(limit),
        reduce_only=False,
        purpose=OrderPurpose.ENTRY,
    )


def test_a_buy_walks_the_asks_and_pays_the_taker_fee_on_its_notional() -> None:
    out = fill_order(
        order(Side.BUY, "5"), BOOK, fee_rate=D("0.0005"), lot_base=D("0.1"), at_ms=T + 5,
        quote_currency="USDT",
    )  # fmt: skip
    assert out.fill is not None
    # 2 @ 100.10 + 2 @ 100.11 + 1 @ 100.12 = 500.54 -> 100.108
    assert out.fill.price == D("100.108")
    assert out.fill.size_base == 5
    assert out.fill.fee.amount == D("0.250270")  # 0.0005 * 500.54
    assert out.slippage_quote == D("0.040")  # 500.54 - 5 * 100.10
    assert out.settled.status is OrderStatus.FILLED
    assert out.settled.filled_base == 5
    assert out.settled.at_ms == T + 5


def test_a_sell_walks_the_bids() -> None:
    out = fill_order(
        order(Side.SELL, "3"), BOOK, fee_rate=D(0), lot_base=D(0), at_ms=T,
        quote_currency="USDT",
    )  # fmt: skip
    assert out.fill is not None
    assert out.fill.price == D("99.896666666666666667")  # 299.69 / 3, to 18 places
    assert out.slippage_quote == D("0.01")  # 3 * 99.90 - 299.69


def test_the_limit_stops_the_walk_and_the_rest_is_cancelled() -> None:
    out = fill_order(
        order(Side.BUY, "5", limit="100.105"), BOOK, fee_rate=D(0), lot_base=D("0.1"),
        at_ms=T, quote_currency="USDT",
    )  # fmt: skip
    assert out.fill is not None
    assert out.fill.size_base == 2
    assert out.settled.status is OrderStatus.CANCELED


def test_a_book_too_thin_fills_what_it_has_in_whole_lots() -> None:
    out = fill_order(
        order(Side.BUY, "10"), BOOK, fee_rate=D(0), lot_base=D("4"), at_ms=T,
        quote_currency="USDT",
    )  # fmt: skip
    assert out.fill is not None
    assert out.fill.size_base == 4
    assert out.settled.status is OrderStatus.CANCELED


def test_extra_slippage_moves_the_price_against_the_order() -> None:
    out = fill_order(
        order(Side.SELL, "1"), BOOK, fee_rate=D(0), lot_base=D(0), at_ms=T,
        quote_currency="USDT", extra_slippage_bps=D(10),
    )  # fmt: skip
    assert out.fill is not None
    assert out.fill.price == D("99.90") - D("99.90") * D("0.001")
    assert out.slippage_quote == D("0.0999")  # 10 bps of 99.90


def test_no_book_fills_nothing() -> None:
    out = fill_order(
        order(Side.BUY, "1"), None, fee_rate=D(0), lot_base=D(0), at_ms=T, quote_currency="USDT"
    )
    assert out.fill is None
    assert out.settled.filled_base == 0
    assert out.settled.status is OrderStatus.CANCELED
