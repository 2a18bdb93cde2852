"""Protective limit prices: an entry is a marketable limit order, never a bare market order.

An entry (the first leg or its hedge) is sent as a limit IOC order at the price the opportunity
expected, moved by at most ``band_bps`` against us: a buy at ``expected * (1 + band)`` rounded
down to the tick, a sell at ``expected * (1 - band)`` rounded up, so rounding never widens the
band. It fills like a market order while the book is where the opportunity saw it, and not at
all past the band (the pair then retries or unwinds). Unwinds and closes stay market orders:
taking risk off must not wait for a price.
"""

from __future__ import annotations

from decimal import ROUND_CEILING
from decimal import ROUND_FLOOR
from decimal import Decimal

from schemas.records.common import Side

BPS = Decimal(10_000)


def protective_limit(
    side: Side, expected: Decimal, band_bps: Decimal, tick: Decimal | None
) -> Decimal:
    """The limit price of an entry at ``expected`` with ``band_bps`` of room, on ``tick``."""
    if expected <= 0:
        raise ValueError(f"expected price must be positive, was {expected}")
    if band_bps < 0:
        raise ValueError(f"band must not be negative, was {band_bps} bps")
    move = expected * band_bps / BPS
    price = expected + move if side is Side.BUY else expected - move
    if tick is None or tick <= 0:
        return price
    rounding = ROUND_FLOOR if side is Side.BUY else ROUND_CEILING
    steps = (price / tick).to_integral_value(rounding=rounding)
    return max(steps * tick, tick)
