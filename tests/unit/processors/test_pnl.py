"""Position accounting and funding accrual, computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.pnl import Fill
from processors.pnl import Ledger
from processors.pnl import Position
from processors.pnl import apply
from processors.pnl import apply_fill
from processors.pnl import funding_payment
from processors.units import InstrumentKey
from schemas.errors import InvalidEvent
from schemas.records.common import Side

D = Decimal

PERP = InstrumentKey("a", "BTC/USDT:USDT")


def _fill(side: Side, qty: str, price: str, fee: str = "0") -> Fill:
    return Fill(PERP, side, D(qty), D(price), D(fee), ts_ms=0)


def test_average_cost_then_reduce_then_flip() -> None:
    p = apply_fill(Position(PERP), _fill(Side.BUY, "1", "100", "0.1"))
    p = apply_fill(p, _fill(Side.BUY, "1", "110", "0.1"))
    assert (p.qty_base, p.avg_price) == (D(2), D(105))
    p = apply_fill(p, _fill(Side.SELL, "3", "120", "0.3"))
    assert p.realized_pnl_quote == D(30)  # (120 - 105) * 2
    assert (p.qty_base, p.avg_price) == (D(-1), D(120))  # short 1 opened at the fill
    assert p.fees_quote == D("0.5")
    assert p.unrealized_quote(D(115)) == D(5)


def test_close_to_flat_resets_the_average() -> None:
    p = apply_fill(Position(PERP), _fill(Side.SELL, "2", "100"))
    p = apply_fill(p, _fill(Side.BUY, "2", "90"))
    assert (p.qty_base, p.avg_price, p.realized_pnl_quote) == (D(0), D(0), D(20))


def test_funding_short_receives_positive_rate_once_per_settlement() -> None:
    ledger = apply(Ledger(), _fill(Side.SELL, "1", "120"))
    paid = funding_payment(ledger.position(PERP), D("0.0001"), D(120), funding_time_ms=8)
    assert paid.amount_quote == D("0.012")
    ledger = apply(ledger, paid)
    ledger = apply(ledger, paid)  # a replayed settlement is not booked twice
    assert ledger.funding_quote() == D("0.012")


def test_funding_long_pays_positive_rate() -> None:
    p = apply_fill(Position(PERP), _fill(Side.BUY, "2", "100"))
    assert funding_payment(p, D("0.0001"), D(100), 8).amount_quote == D("-0.02")
    assert funding_payment(p, D("-0.0001"), D(100), 8).amount_quote == D("0.02")


def test_ledger_totals() -> None:
    ledger = Ledger()
    for event in (_fill(Side.BUY, "1", "100", "0.1"), _fill(Side.SELL, "1", "105", "0.1")):
        ledger = apply(ledger, event)
    p = ledger.position(PERP)
    assert ledger.realized_quote() == D(5)
    assert ledger.fees_quote() == D("0.2")
    assert p.total_pnl_quote(D(1)) == D("4.8")
    assert ledger.unrealized_quote({}) == 0  # flat needs no mark


def test_open_position_without_a_mark_is_an_error() -> None:
    ledger = apply(Ledger(), _fill(Side.BUY, "1", "100"))
    with pytest.raises(InvalidEvent):
        ledger.unrealized_quote({})
    assert ledger.unrealized_quote({PERP: D(101)}) == D(1)


def test_invalid_fill() -> None:
    with pytest.raises(InvalidEvent):
        apply_fill(Position(PERP), _fill(Side.BUY, "0", "100"))
