"""Book validation and depth walks, computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.books import max_size_within_slippage
from processors.books import validate_book
from processors.books import walk_book
from processors.books import walk_levels
from processors.units import Book
from processors.units import BookLevel
from schemas.errors import InvalidEvent
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason

D = Decimal


def _levels(*pairs: tuple[str, str]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(D(p), D(s)) for p, s in pairs)


ASKS = _levels(("100", "1"), ("101", "2"), ("102", "3"))
BIDS = _levels(("99", "1"), ("98", "2"))
BOOK = Book(bids=BIDS, asks=ASKS, ts_ms=1, seq=7)


def test_valid_book_passes_unchanged() -> None:
    assert validate_book(BOOK) is BOOK


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ((), ASKS, DeadLetterReason.EMPTY_BOOK),
        (BIDS, (), DeadLetterReason.EMPTY_BOOK),
        (_levels(("101", "1")), ASKS, DeadLetterReason.CROSSED_BOOK),
        (_levels(("100", "1")), ASKS, DeadLetterReason.CROSSED_BOOK),
        (_levels(("0", "1")), ASKS, DeadLetterReason.NON_POSITIVE_PRICE),
        (_levels(("-1", "1")), ASKS, DeadLetterReason.NON_POSITIVE_PRICE),
        (_levels(("99", "0")), ASKS, DeadLetterReason.NON_POSITIVE_SIZE),
        (_levels(("NaN", "1")), ASKS, DeadLetterReason.NAN_OR_INFINITE),
        (_levels(("99", "Infinity")), ASKS, DeadLetterReason.NAN_OR_INFINITE),
        (_levels(("98", "1"), ("99", "1")), ASKS, DeadLetterReason.MALFORMED_PAYLOAD),
        (BIDS, _levels(("101", "1"), ("100", "1")), DeadLetterReason.MALFORMED_PAYLOAD),
        (BIDS, _levels(("101", "1"), ("101", "1")), DeadLetterReason.MALFORMED_PAYLOAD),
    ],
)
def test_invalid_books_raise_with_a_reason_code(
    bids: tuple[BookLevel, ...], asks: tuple[BookLevel, ...], reason: DeadLetterReason
) -> None:
    with pytest.raises(InvalidEvent) as err:
        validate_book(Book(bids=bids, asks=asks, ts_ms=0))
    assert err.value.reason is reason


def test_buy_walks_three_levels() -> None:
    fill = walk_book(BOOK, Side.BUY, size_base=D(4))
    # 1 @ 100 + 2 @ 101 + 1 @ 102 = 404
    assert (fill.filled_base, fill.filled_quote, fill.avg_price) == (D(4), D(404), D(101))
    assert (fill.levels_used, fill.best_price, fill.worst_price) == (3, D(100), D(102))
    assert fill.slippage_quote == D(4)  # 404 - 4 * 100
    assert fill.slippage_bps == D(100)  # 4 / 400
    assert fill.complete


def test_sell_walks_bids() -> None:
    fill = walk_book(BOOK, Side.SELL, size_base=D(2))
    # 1 @ 99 + 1 @ 98 = 197, touch value 198
    assert fill.avg_price == D("98.5")
    assert fill.slippage_quote == D(1)
    assert fill.slippage_bps == D(1) / D(198) * 10_000


def test_walk_by_quote_notional() -> None:
    fill = walk_levels(ASKS, Side.BUY, notional_quote=D(250))
    assert fill.filled_quote == D(250)
    assert fill.filled_base == D(1) + D(150) / D(101)
    assert fill.levels_used == 2


def test_insufficient_depth_reports_the_filled_size() -> None:
    fill = walk_book(BOOK, Side.BUY, size_base=D(10))
    assert not fill.complete
    assert fill.filled_base == D(6)
    assert fill.filled_quote == D(100 + 202 + 306)


def test_walk_needs_exactly_one_amount() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        walk_levels(ASKS, Side.BUY)
    with pytest.raises(ValueError, match="exactly one"):
        walk_levels(ASKS, Side.BUY, size_base=D(1), notional_quote=D(1))


@pytest.mark.parametrize(
    ("bound_bps", "expected"),
    [
        ("0", "1"),  # the touch only
        ("50", "2"),  # avg 100.5 = (100 + 101) / 2
        ("100", "4"),  # avg 101 = 404 / 4
        ("10000", "6"),  # the whole side
    ],
)
def test_max_size_within_slippage(bound_bps: str, expected: str) -> None:
    size = max_size_within_slippage(ASKS, Side.BUY, D(bound_bps))
    assert size == D(expected)
    assert walk_levels(ASKS, Side.BUY, size_base=size).slippage_bps <= D(bound_bps)


def test_max_size_within_slippage_on_the_bid_side() -> None:
    # limit 99 * (1 - 0.005) = 98.505; q = (98.505 - 99) / (98 - 98.505) = 0.980198...
    size = max_size_within_slippage(BIDS, Side.SELL, D(50))
    assert size == D(1) + (D("98.505") - D(99)) / (D(98) - D("98.505"))
    avg = walk_levels(BIDS, Side.SELL, size_base=size).avg_price
    assert abs(avg - D("98.505")) < D("1e-20")
