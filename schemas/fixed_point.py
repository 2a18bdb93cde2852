"""Exact fixed-point book levels: the columns of :class:`~schemas.records.md.BookSnapshot`.

A book travels as int64 mantissas with one scale for its prices and one for its sizes
(``price = mantissa / 10**price_scale``), as NautilusTrader's ``Price``/``Quantity`` do: exact,
decoded by fastavro in C, compared as integers on the hot path. The scale is the fewest decimal
places that hold every value of the book exactly, so no value is ever rounded. A book with a
value that does not fit (more than 18 places, or a mantissa beyond int64) travels as decimal
levels instead (the legacy ``bids``/``asks`` fields); readers take whichever form is present
through :func:`bid_levels`, :func:`ask_levels` (or their values alone, :func:`bid_values` and
:func:`ask_values`) and :func:`touch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import PriceLevel
from schemas.records.md import BookSnapshot

MAX_SCALE = 18
INT64_MAX = 2**63 - 1
_UNIT = tuple(Decimal(1).scaleb(-i) for i in range(MAX_SCALE + 1))


def places(value: Decimal) -> int:
    """Decimal places ``value`` needs to be written exactly (0 for integers)."""
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int), f"not a finite decimal: {value}"
    return max(0, -exponent)


def scale_for(values: Sequence[Decimal]) -> int | None:
    """The fewest places that hold every value exactly in int64; None when none does."""
    if not all(v.is_finite() for v in values):
        return None
    scale = max((places(v) for v in values), default=0)
    if scale > MAX_SCALE:
        return None
    if any(abs(mantissa(v, scale)) > INT64_MAX for v in values):
        return None
    return scale


def mantissa(value: Decimal, scale: int) -> int:
    """``value * 10**scale`` as an int, exactly (no context rounding); ``scale`` must be at
    least :func:`places` of ``value``."""
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), f"not a finite decimal: {value}"
    coefficient = int("".join(map(str, digits)) or "0")
    shift = exponent + scale
    m: int = coefficient * 10**shift if shift >= 0 else coefficient // 10 ** (-shift)
    return -m if sign else m


def value_of(mantissa_: int, scale: int) -> Decimal:
    return Decimal(mantissa_) * _UNIT[scale] if scale <= MAX_SCALE else Decimal(mantissa_)


_DIGITS: dict[Decimal, tuple[int, int] | None] = {}
"""Memo: value -> (mantissa at its own places, places), None when not finite or beyond 18
places. Prices and sizes repeat on a live stream; bounded by :data:`_DIGITS_MAX`."""
_DIGITS_MAX = 200_000


def _digits(value: Decimal) -> tuple[int, int] | None:
    found = _DIGITS.get(value, False)
    if found is not False:
        return found  # type: ignore[return-value]
    if not value.is_finite():
        entry = None
    else:
        p = places(value)
        entry = (mantissa(value, p), p) if p <= MAX_SCALE else None
    if len(_DIGITS) >= _DIGITS_MAX:
        _DIGITS.clear()
    _DIGITS[value] = entry
    return entry


def _column(digits: list[tuple[int, int]], scale: int) -> tuple[int, ...] | None:
    out = tuple(m * 10 ** (scale - p) for m, p in digits)
    return out if all(-INT64_MAX <= m <= INT64_MAX for m in out) else None


def columns(
    prices: list[tuple[int, int]], sizes: list[tuple[int, int]], bids: int
) -> dict[str, Any] | None:
    """The column fields of a book from its levels' (mantissa, places), bids first (``bids``
    of them): each scale is the fewest places that hold every value; None when a mantissa
    would not fit int64 at that scale."""
    ps = max((p for _m, p in prices), default=0)
    ss = max((p for _m, p in sizes), default=0)
    price_col, size_col = _column(prices, ps), _column(sizes, ss)
    if price_col is None or size_col is None:
        return None
    return {
        "bids": (),
        "asks": (),
        "price_scale": ps,
        "size_scale": ss,
        "bid_prices": price_col[:bids],
        "bid_sizes": size_col[:bids],
        "ask_prices": price_col[bids:],
        "ask_sizes": size_col[bids:],
    }


def book_snapshot(
    *,
    envelope: Envelope,
    instrument: InstrumentRef,
    depth: int,
    bids: Sequence[PriceLevel],
    asks: Sequence[PriceLevel],
) -> BookSnapshot:
    """A book snapshot of (already valid) decimal levels, in fixed-point columns whenever they
    are exact, else as decimal levels."""
    prices = [_digits(lv.price) for lv in (*bids, *asks)]
    sizes = [_digits(lv.size_base) for lv in (*bids, *asks)]
    fields: dict[str, Any] | None = None
    if None not in prices and None not in sizes:
        fields = columns(
            [d for d in prices if d is not None], [d for d in sizes if d is not None], len(bids)
        )
    if fields is None:
        return BookSnapshot(
            envelope=envelope,
            instrument=instrument,
            depth=depth,
            bids=tuple(bids),
            asks=tuple(asks),
        )
    return BookSnapshot.trusted(
        {
            "envelope": envelope,
            "instrument": instrument,
            "depth": depth,
            **fields,
        }
    )


def is_fixed(record: BookSnapshot) -> bool:
    """Whether the book travels in the fixed-point columns (else as decimal levels)."""
    return not record.bids and not record.asks


def _values(
    prices: Sequence[int], sizes: Sequence[int], ps: int, ss: int
) -> tuple[tuple[Decimal, Decimal], ...]:
    return tuple((value_of(p, ps), value_of(s, ss)) for p, s in zip(prices, sizes, strict=True))


def bid_values(record: BookSnapshot) -> tuple[tuple[Decimal, Decimal], ...]:
    """The bids as (price, size) decimals, best first, whichever form the record carries,
    without building a level record for each."""
    if not is_fixed(record):
        return tuple((lv.price, lv.size_base) for lv in record.bids)
    return _values(record.bid_prices, record.bid_sizes, record.price_scale, record.size_scale)


def ask_values(record: BookSnapshot) -> tuple[tuple[Decimal, Decimal], ...]:
    """The asks as (price, size) decimals, best first (see :func:`bid_values`)."""
    if not is_fixed(record):
        return tuple((lv.price, lv.size_base) for lv in record.asks)
    return _values(record.ask_prices, record.ask_sizes, record.price_scale, record.size_scale)


def bid_levels(record: BookSnapshot) -> tuple[PriceLevel, ...]:
    """The bids as decimal levels, best first, whichever form the record carries."""
    if not is_fixed(record):
        return record.bids
    return tuple(PriceLevel(price=p, size_base=s) for p, s in bid_values(record))


def ask_levels(record: BookSnapshot) -> tuple[PriceLevel, ...]:
    """The asks as decimal levels, best first, whichever form the record carries."""
    if not is_fixed(record):
        return record.asks
    return tuple(PriceLevel(price=p, size_base=s) for p, s in ask_values(record))


Touch = tuple[int, int, int, int, int, int]
"""(bid price, bid size, ask price, ask size, price scale, size scale) of the best levels."""


def touch(record: BookSnapshot) -> Touch | None:
    """The best bid and ask as mantissas with their scales; None when a side is empty."""
    if is_fixed(record):
        if not record.bid_prices or not record.ask_prices:
            return None
        return (
            record.bid_prices[0],
            record.bid_sizes[0],
            record.ask_prices[0],
            record.ask_sizes[0],
            record.price_scale,
            record.size_scale,
        )
    if not record.bids or not record.asks:
        return None
    bid, ask = record.bids[0], record.asks[0]
    ps = max(places(bid.price), places(ask.price))  # Python ints: exact at any scale
    ss = max(places(bid.size_base), places(ask.size_base))
    return (
        mantissa(bid.price, ps),
        mantissa(bid.size_base, ss),
        mantissa(ask.price, ps),
        mantissa(ask.size_base, ss),
        ps,
        ss,
    )


def same_touch(a: Touch, b: Touch) -> bool:
    """Whether two touches hold the same values (exact, across different scales)."""
    if a[4] == b[4] and a[5] == b[5]:
        return bool(a[:4] == b[:4])
    pa, pb = 10 ** b[4], 10 ** a[4]
    sa, sb = 10 ** b[5], 10 ** a[5]
    return bool(
        a[0] * pa == b[0] * pb
        and a[2] * pa == b[2] * pb
        and a[1] * sa == b[1] * sb
        and a[3] * sa == b[3] * sb
    )
