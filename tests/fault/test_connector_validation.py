"""Connector validation: a crossed book or a NaN price goes to ``dlq.md`` with its reason.

Guards, in the order a ccxt order book meets them in :func:`connectors.normalize.to_book_snapshot`:

1. ``Context.decimal`` refuses a non-finite number while parsing (``NAN_OR_INFINITE``);
2. :func:`connectors.normalize.book_fault` (the checks of :func:`processors.books.validate_book`
   on the parsed numbers) refuses an empty, non-finite, non-positive, unsorted or crossed book
   (``CROSSED_BOOK``, ...);
3. behind both, building the record applies the schema's decimal check (``fit_decimal``), which
   refuses NaN.

Oracle: what the feed emits, read from its sink: each bad book appears once in ``dlq.md`` with
its reason and its raw bytes, never on ``md.book``, and the feed keeps running.
A crossed book has one guard (2), so its twin disables that. NaN has two (1 and 2): each alone
is shown to suffice, and the twin disables both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest

from connectors import normalize
from connectors.normalize import Context
from connectors.normalize import raw_json
from connectors.venue import InvalidPayload
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.records.dlq import DeadLetterReason as R
from tests.fault.scripted_feed import BTC
from tests.fault.scripted_feed import dead_letters
from tests.fault.scripted_feed import feed_books
from tests.fault.scripted_feed import published_books
from tests.unit.connectors.scripted import NAN
from tests.unit.connectors.scripted import book

pytestmark = pytest.mark.fault

# Nonces are contiguous (the scripted venue numbers every update): a jump is a SEQUENCE_GAP.
CROSSED = book(BTC, 101, bid=101.0)  # best bid 101 >= best ask 100.5
NAN_BID = book(BTC, 101, bid=NAN)


def no_book_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted fault: the connector publishes books without ``book_fault``."""

    def accept(bids: object, asks: object) -> None:
        del bids, asks

    monkeypatch.setattr(normalize, "book_fault", accept)


def no_finite_number_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted fault: ``Context.decimal`` lets NaN and infinities through (other refusals stay)."""
    original = Context.decimal

    def lenient(
        self: Context, value: object, name: str, *, required: bool = True
    ) -> Decimal | None:
        try:
            return original(self, value, name, required=required)
        except InvalidPayload as e:
            if e.reason is not R.NAN_OR_INFINITE:
                raise
            return Decimal(str(value))

    monkeypatch.setattr(Context, "decimal", lenient)


async def test_crossed_and_nan_books_are_dead_lettered_with_their_reason() -> None:
    books = [book(BTC, 100), CROSSED, {**NAN_BID, "nonce": 102}, book(BTC, 103)]
    sink = await feed_books(books, items=4)
    dead = dead_letters(sink)
    assert Counter(d.reason for d in dead) == {R.CROSSED_BOOK: 1, R.NAN_OR_INFINITE: 1}
    assert [d.raw for d in dead] == [raw_json(b) for b in books[1:3]]  # byte-equal
    assert [b.envelope.source_seq for b in published_books(sink)] == [100, 103]


async def test_twin_without_book_validation_a_crossed_book_is_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_book_validation(monkeypatch)
    sink = await feed_books([book(BTC, 100), CROSSED, book(BTC, 102)], items=3)
    assert not dead_letters(sink)
    published = published_books(sink)
    assert [b.envelope.source_seq for b in published] == [100, 101, 102]
    crossed = published[1]
    assert bid_levels(crossed)[0].price >= ask_levels(crossed)[0].price


@pytest.mark.parametrize("disable", [no_book_validation, no_finite_number_check])
async def test_either_nan_guard_alone_dead_letters_a_nan_price(
    monkeypatch: pytest.MonkeyPatch, disable: Callable[[pytest.MonkeyPatch], None]
) -> None:
    disable(monkeypatch)
    sink = await feed_books([book(BTC, 100), NAN_BID, book(BTC, 102)], items=3)
    assert [d.reason for d in dead_letters(sink)] == [R.NAN_OR_INFINITE]
    assert [b.envelope.source_seq for b in published_books(sink)] == [100, 102]


async def test_twin_without_both_nan_guards_a_nan_price_is_not_dead_lettered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_book_validation(monkeypatch)
    no_finite_number_check(monkeypatch)
    # The schema still refuses NaN, but as a crash of the book stream (and so of the feed),
    # not as a dead letter with a reason: the oracle's "the feed keeps running" fails.
    with pytest.raises(ValueError, match="finite"):
        await feed_books([book(BTC, 100), NAN_BID, book(BTC, 102)], items=3)
