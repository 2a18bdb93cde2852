"""Directions of the wire's sides: a leg is LONG or SHORT; FLAT and UNKNOWN are refused."""

from __future__ import annotations

import pytest

from processors.units import entry_side
from processors.units import exit_side
from processors.units import opposite
from processors.units import sign
from schemas.records.common import PositionSide
from schemas.records.common import Side


def test_a_long_leg_buys_to_open_and_sells_to_close() -> None:
    assert (sign(PositionSide.LONG), entry_side(PositionSide.LONG)) == (1, Side.BUY)
    assert exit_side(PositionSide.LONG) is Side.SELL
    assert (sign(PositionSide.SHORT), entry_side(PositionSide.SHORT)) == (-1, Side.SELL)
    assert opposite(Side.SELL) is Side.BUY


@pytest.mark.parametrize("side", [PositionSide.FLAT, PositionSide.UNKNOWN])
def test_a_leg_without_a_direction_is_refused(side: PositionSide) -> None:
    with pytest.raises(ValueError, match="LONG or SHORT"):
        sign(side)
    with pytest.raises(ValueError, match="LONG or SHORT"):
        entry_side(side)
