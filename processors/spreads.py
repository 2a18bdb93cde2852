"""Spreads between two legs: price (basis, cross-exchange) and funding differentials.

Every spread is oriented ``short leg minus long leg``: positive means the leg we would sell is
dearer (or pays more funding) than the leg we would buy, i.e. positive is an edge for
"long ``long``, short ``short``". Mid spreads are expressed in bps of the *mean* of the two
mids so that swapping the legs flips the sign exactly (a denominator of one leg would not).

Executable spreads buy the long leg at the ask and sell the short leg at the bid (or at the
depth-walked average for a size); they are direction-specific, and for a valid book
``executable(a, b) <= mid(a, b)`` and ``executable(a, b) + executable(b, a) < 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from processors.books import walk_book
from processors.units import BPS
from processors.units import HOURS_PER_YEAR
from processors.units import MS_PER_HOUR
from processors.units import TWO
from processors.units import ZERO
from processors.units import Book
from processors.units import FundingRate
from schemas.records.common import Side

EIGHT_HOURS_MS = 8 * MS_PER_HOUR


def price_spread_bps(short_price: Decimal, long_price: Decimal) -> Decimal:
    """``(short - long) / mean(short, long)`` in bps; antisymmetric in its arguments."""
    mean = (short_price + long_price) / TWO
    if mean <= 0:
        raise ValueError(f"expected positive prices, got {short_price} and {long_price}")
    return (short_price - long_price) / mean * BPS


@dataclass(frozen=True, slots=True)
class PriceSpread:
    """Long one book, short the other."""

    mid_bps: Decimal
    executable_bps: Decimal | None
    """At the touch, or at the depth-walked averages when a size is given; None when the
    depth is insufficient for that size."""
    long_price: Decimal | None
    short_price: Decimal | None


def price_spread(
    long_book: Book, short_book: Book, size_base: Decimal | None = None
) -> PriceSpread:
    """Spread for buying ``long_book`` and selling ``short_book``."""
    mid_bps = price_spread_bps(short_book.mid, long_book.mid)
    if size_base is None:
        buy, sell = long_book.best_ask, short_book.best_bid
    else:
        buy_fill = walk_book(long_book, Side.BUY, size_base=size_base)
        sell_fill = walk_book(short_book, Side.SELL, size_base=size_base)
        if not (buy_fill.complete and sell_fill.complete):
            return PriceSpread(mid_bps, None, None, None)
        buy, sell = buy_fill.avg_price, sell_fill.avg_price
    return PriceSpread(mid_bps, price_spread_bps(sell, buy), buy, sell)


def basis(spot_book: Book, perp_book: Book, size_base: Decimal | None = None) -> PriceSpread:
    """Spot-perp basis (perp minus spot), executable for the carry direction: buy spot,
    sell perp. Positive mid basis is contango (perp rich)."""
    return price_spread(spot_book, perp_book, size_base)


def cross_exchange_spread(
    long_book: Book, short_book: Book, size_base: Decimal | None = None
) -> PriceSpread:
    """The same instrument kind on two venues: buy on ``long_book``'s venue, sell on the other."""
    return price_spread(long_book, short_book, size_base)


@dataclass(frozen=True, slots=True)
class FundingDifferential:
    """Funding of the short leg minus funding of the long leg, normalized.

    Positive means the position (long ``long``, short ``short``) is paid on net. Normalized
    figures are for comparison only; cash uses each venue's native interval and calendar.
    """

    per_hour: Decimal
    per_8h: Decimal
    apr_simple: Decimal

    @property
    def apr_bps(self) -> Decimal:
        return self.apr_simple * BPS


def funding_differential(long_rate: FundingRate, short_rate: FundingRate) -> FundingDifferential:
    """E.g. long a 1h venue at 0.001%/h, short an 8h venue at 0.01%/8h: 0.00025%/h net."""
    per_hour = short_rate.per_hour() - long_rate.per_hour()
    return FundingDifferential(
        per_hour=per_hour,
        per_8h=per_hour * 8,
        apr_simple=per_hour * HOURS_PER_YEAR,
    )


def spot_perp_funding(perp_rate: FundingRate, perp_is_short: bool) -> FundingDifferential:
    """Funding of a spot-perp carry (spot pays no funding)."""
    flat = FundingRate(ZERO, perp_rate.interval_ms)
    if perp_is_short:
        return funding_differential(flat, perp_rate)
    return funding_differential(perp_rate, flat)
