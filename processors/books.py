"""Order books: validation and depth walks.

Slippage is measured against the touch (best price on the side taken): buying at an average
of 100.2 when the best ask is 100.0 is 20 bps of slippage. The bid/ask crossing itself is a
separate cost (:mod:`processors.costs`), so the two never double count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN
from decimal import Decimal
from decimal import localcontext

from processors.units import BPS
from processors.units import ONE
from processors.units import ZERO
from processors.units import Book
from processors.units import BookLevel
from schemas.errors import InvalidEvent
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason


def _check_levels(levels: Sequence[BookLevel], name: str, descending: bool) -> None:
    previous: Decimal | None = None
    for i, level in enumerate(levels):
        if not (level.price.is_finite() and level.size_base.is_finite()):
            detail = f"{name}[{i}] is {level.price} x {level.size_base}"
            raise InvalidEvent(DeadLetterReason.NAN_OR_INFINITE, detail)
        if level.price <= 0:
            raise InvalidEvent(
                DeadLetterReason.NON_POSITIVE_PRICE, f"{name}[{i}] price is {level.price}"
            )
        if level.size_base <= 0:
            raise InvalidEvent(
                DeadLetterReason.NON_POSITIVE_SIZE, f"{name}[{i}] size is {level.size_base}"
            )
        if previous is not None and (
            level.price >= previous if descending else level.price <= previous
        ):
            order = "descending" if descending else "ascending"
            raise InvalidEvent(
                DeadLetterReason.MALFORMED_PAYLOAD,
                f"{name} must be strictly {order}: level {i} at {level.price} after {previous}",
            )
        previous = level.price


def validate_book(book: Book) -> Book:
    """Return ``book`` unchanged or raise :class:`InvalidEvent` with its dead-letter reason.

    Reasons: ``EMPTY_BOOK`` (a side has no level), ``NAN_OR_INFINITE``, ``NON_POSITIVE_PRICE``,
    ``NON_POSITIVE_SIZE``, ``MALFORMED_PAYLOAD`` (bids not strictly descending or asks not
    strictly ascending), ``CROSSED_BOOK`` (best bid >= best ask; a locked book counts as crossed).
    """
    for name, levels in (("bids", book.bids), ("asks", book.asks)):
        if not levels:
            raise InvalidEvent(DeadLetterReason.EMPTY_BOOK, f"the {name} side has no level")
    _check_levels(book.bids, "bids", descending=True)
    _check_levels(book.asks, "asks", descending=False)
    if book.best_bid >= book.best_ask:
        raise InvalidEvent(
            DeadLetterReason.CROSSED_BOOK, f"best bid {book.best_bid} >= best ask {book.best_ask}"
        )
    return book


@dataclass(frozen=True, slots=True)
class BookWalk:
    """The outcome of walking one side of a book."""

    side: Side
    filled_base: Decimal
    filled_quote: Decimal
    best_price: Decimal
    worst_price: Decimal
    levels_used: int
    complete: bool
    """False when the book ran out before the requested size or notional."""

    @property
    def avg_price(self) -> Decimal:
        return self.filled_quote / self.filled_base if self.filled_base else self.best_price

    @property
    def slippage_quote(self) -> Decimal:
        """Cost versus filling everything at the touch (never negative)."""
        at_touch = self.best_price * self.filled_base
        diff = self.filled_quote - at_touch
        return diff if self.side is Side.BUY else -diff

    @property
    def slippage_bps(self) -> Decimal:
        at_touch = self.best_price * self.filled_base
        return self.slippage_quote / at_touch * BPS if at_touch else ZERO


def walk_levels(
    levels: Sequence[BookLevel],
    side: Side,
    *,
    size_base: Decimal | None = None,
    notional_quote: Decimal | None = None,
) -> BookWalk:
    """Take liquidity level by level for ``size_base`` or ``notional_quote`` (exactly one).

    ``levels`` are the levels an order of ``side`` takes (asks for BUY, bids for SELL), best
    first. Levels are assumed validated.
    """
    if size_base is not None and notional_quote is None:
        by_size, remaining = True, size_base
    elif notional_quote is not None and size_base is None:
        by_size, remaining = False, notional_quote
    else:
        raise ValueError("give exactly one of size_base or notional_quote")
    if not levels:
        raise InvalidEvent(DeadLetterReason.EMPTY_BOOK, f"no level to take for a {side} order")
    if remaining < 0:
        raise ValueError(f"expected a non-negative amount, was {remaining}")
    base = ZERO
    quote = ZERO
    used = 0
    worst = levels[0].price
    for level in levels:
        if remaining <= 0:
            break
        level_amount = level.size_base if by_size else level.size_base * level.price
        take = level_amount if level_amount <= remaining else remaining
        take_base = take if by_size else take / level.price
        base += take_base
        quote += take_base * level.price
        remaining -= take
        used += 1
        worst = level.price
    return BookWalk(side, base, quote, levels[0].price, worst, used, complete=remaining <= 0)


def walk_book(
    book: Book,
    side: Side,
    *,
    size_base: Decimal | None = None,
    notional_quote: Decimal | None = None,
) -> BookWalk:
    """:func:`walk_levels` on the side of ``book`` that an order of ``side`` takes."""
    return walk_levels(book.levels(side), side, size_base=size_base, notional_quote=notional_quote)


def max_size_within_slippage(
    levels: Sequence[BookLevel], side: Side, max_slippage_bps: Decimal
) -> Decimal:
    """The largest base size whose average fill price stays within ``max_slippage_bps`` of the
    touch. The average price is monotone in size, so the bound is reached inside one level and
    solved there exactly: ``q = (limit * base - quote) / (price - limit)``.
    """
    if max_slippage_bps < 0:
        raise ValueError(f"expected a non-negative slippage bound, was {max_slippage_bps}")
    if not levels:
        return ZERO
    best = levels[0].price
    bound = max_slippage_bps / BPS
    limit = best * (ONE + bound) if side is Side.BUY else best * (ONE - bound)
    base = ZERO
    quote = ZERO
    for level in levels:
        worse = level.price > limit if side is Side.BUY else level.price < limit
        if worse:
            with localcontext() as ctx:
                ctx.rounding = ROUND_DOWN  # toward zero: never past the bound
                partial = (limit * base - quote) / (level.price - limit)
            return base + min(max(partial, ZERO), level.size_base)
        base += level.size_base
        quote += level.size_base * level.price
    return base
