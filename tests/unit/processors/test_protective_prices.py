"""Protective limits never let rounding widen the band."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.protective_prices import protective_limit
from schemas.records.common import Side

D = Decimal


def test_a_buy_rounds_down_and_a_sell_up() -> None:
    assert protective_limit(Side.BUY, D("3300"), D("50"), D("0.1")) == D("3316.5")
    assert protective_limit(Side.BUY, D("3300.07"), D("50"), D("0.1")) == D("3316.5")
    assert protective_limit(Side.SELL, D("3300.07"), D("50"), D("0.1")) == D("3283.6")


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        protective_limit(Side.BUY, D(0), D(50), D("0.1"))
    with pytest.raises(ValueError, match="negative"):
        protective_limit(Side.BUY, D(1), D(-1), D("0.1"))


@given(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.decimals(min_value=D("0.0001"), max_value=D(100_000), places=4),
    st.decimals(min_value=D(0), max_value=D(500), places=1),
    st.sampled_from([D("0.0001"), D("0.01"), D("0.1"), D("1"), D("5")]),
)
def test_the_limit_is_on_the_tick_and_inside_the_band(
    side: Side, expected: Decimal, band: Decimal, tick: Decimal
) -> None:
    price = protective_limit(side, expected, band, tick)
    assert price % tick == 0
    edge = expected * (1 + band / 10_000) if side is Side.BUY else expected * (1 - band / 10_000)
    if side is Side.BUY:
        assert price <= edge or price == tick
    else:
        assert price >= edge
