"""Fixed-point book columns: exact round trips, exact touch comparison, legacy decimal form."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import Codec
from schemas.fixed_point import INT64_MAX
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.fixed_point import book_snapshot
from schemas.fixed_point import is_fixed
from schemas.fixed_point import mantissa
from schemas.fixed_point import places
from schemas.fixed_point import same_touch
from schemas.fixed_point import scale_for
from schemas.fixed_point import touch
from schemas.records.common import PriceLevel
from schemas.records.md import BookSnapshot
from schemas.registry import InMemoryRegistry
from schemas.samples import sample
from schemas.topics import MD_BOOK

values = st.decimals(
    min_value=Decimal("1E-12"), max_value=Decimal(10**6), places=12, allow_nan=False
).map(lambda d: d.normalize())
"""Up to 10^6 at 12 places: every mantissa fits int64 (10^18 < 2^63)."""
wide = st.decimals(
    min_value=Decimal("1E-12"), max_value=Decimal(10**12), places=12, allow_nan=False
).map(lambda d: d.normalize())
levels = st.lists(st.tuples(values, values), min_size=1, max_size=6).map(
    lambda pairs: tuple(PriceLevel(price=p, size_base=s) for p, s in pairs)
)
BASE = sample(BookSnapshot)


def _book(bids: tuple[PriceLevel, ...], asks: tuple[PriceLevel, ...]) -> BookSnapshot:
    return book_snapshot(
        envelope=BASE.envelope, instrument=BASE.instrument, depth=6, bids=bids, asks=asks
    )


@given(levels, levels)
def test_levels_round_trip_exactly_through_the_columns_and_avro(
    bids: tuple[PriceLevel, ...], asks: tuple[PriceLevel, ...]
) -> None:
    book = _book(bids, asks)
    assert is_fixed(book)
    codec = Codec(InMemoryRegistry())
    decoded = codec.decode(codec.encode(book, MD_BOOK))
    assert isinstance(decoded, BookSnapshot)
    assert decoded == book
    assert [(lv.price, lv.size_base) for lv in bid_levels(decoded)] == [
        (lv.price, lv.size_base) for lv in bids
    ]
    assert [(lv.price, lv.size_base) for lv in ask_levels(decoded)] == [
        (lv.price, lv.size_base) for lv in asks
    ]


@given(st.lists(wide, min_size=1, max_size=8))
def test_the_scale_is_the_fewest_places_that_hold_every_value(xs: list[Decimal]) -> None:
    scale, wanted = scale_for(xs), max(places(x) for x in xs)
    if scale is None:  # only when a mantissa would not fit int64
        assert any(abs(mantissa(x, wanted)) > INT64_MAX for x in xs)
        return
    assert scale == wanted
    for x in xs:
        assert Decimal(mantissa(x, scale)).scaleb(-scale) == x


@given(levels, levels, st.integers(min_value=1, max_value=6))
def test_touch_comparison_is_by_value_across_scales(
    bids: tuple[PriceLevel, ...], asks: tuple[PriceLevel, ...], extra: int
) -> None:
    """The same touch written at another scale (a finer level elsewhere) is the same touch."""
    finer = (*asks, PriceLevel(price=Decimal(1).scaleb(-12 - extra), size_base=Decimal(1)))
    a, b = touch(_book(bids, asks)), touch(_book(bids, finer))
    assert a is not None
    assert b is not None
    assert same_touch(a, b)
    moved = (PriceLevel(price=bids[0].price + Decimal("1E-12"), size_base=bids[0].size_base),)
    c = touch(_book(moved + bids[1:], asks))
    assert c is not None
    assert not same_touch(a, c)


def test_a_value_beyond_int64_travels_as_decimal_levels() -> None:
    huge = (PriceLevel(price=Decimal(INT64_MAX) + 1, size_base=Decimal(1)),)
    book = _book(huge, huge)
    assert not is_fixed(book)
    assert bid_levels(book) == huge
    codec = Codec(InMemoryRegistry())
    assert codec.decode(codec.encode(book, MD_BOOK)) == book


def test_a_version_1_book_reads_as_decimal_levels() -> None:
    """Books written before the columns existed keep their decimal levels."""
    legacy = BookSnapshot(
        envelope=BASE.envelope,
        instrument=BASE.instrument,
        depth=1,
        bids=(PriceLevel(price=Decimal("99.5"), size_base=Decimal(2)),),
        asks=(PriceLevel(price=Decimal("100.25"), size_base=Decimal(1)),),
    )
    assert not is_fixed(legacy)
    assert touch(legacy) == (9950, 2, 10025, 1, 2, 0)
    fixed = _book(legacy.bids, legacy.asks)
    top_legacy, top_fixed = touch(legacy), touch(fixed)
    assert top_legacy is not None
    assert top_fixed is not None
    assert same_touch(top_legacy, top_fixed)
