"""ccxt unified structures → schema records, field by field.

Every reader names the ccxt key it reads. Numbers become ``Decimal(str(x))`` (ccxt hands out
floats, whose shortest repr is the venue's text), never float arithmetic. Anything that cannot
be represented raises :class:`connectors.venue.InvalidPayload` with a ``DeadLetterReason`` and
the raw JSON of the structure (``info`` included); the caller dead-letters it and carries on.

Good payloads are never serialized: a :class:`Context` keeps the parsed structure and builds
its raw JSON only inside :meth:`Context.refuse`, i.e. only for what becomes a dead letter.

Event ids
---------
``event_id = uuid5(EVENT_ID_NAMESPACE, f"{topic}|{exchange}|{symbol}|{identity}")`` where the
identity is what the venue itself says makes the event unique, taken from the payload only
(never from the ingest time, so a redelivered payload gets the same id and downstream
de-duplication is idempotent):

* book: ``nonce:<n>`` (the ccxt ``nonce``, the venue's book sequence); without one
  ``ts:<timestamp>`` (the venue time of the snapshot);
* trade: ``trade:<id>`` (the venue trade id, unique per market);
* funding: ``ts:<timestamp>|next:<fundingTimestamp>`` (the venue time of the update and the
  settlement it is for);
* anything without such an identity (no nonce and no venue time, a trade without id, account
  and order structures): the sha256 hex digest of the structure's canonical JSON
  (:func:`raw_json`), so equal payloads still get equal ids.

The identity trusts the venue: two different payloads under one nonce would share an id, which
is why the venue's sequencer (:class:`connectors.sequencing.BookSequencer`) refuses a repeated
nonce with other levels (``DUPLICATE_SEQUENCE``) before a book gets here.

Topic, exchange id and ccxt symbol never contain ``|`` and the identity is the last part, so
distinct (topic, exchange, symbol, identity) give distinct names, and distinct names distinct
ids (uuid5 is SHA-1 based). The tagged identities (``nonce:``, ``ts:``, ``trade:``) cannot equal
a digest (64 hex digits, no colon).

Books are validated inline on the parsed numbers (same reason codes as
:func:`processors.books.validate_book`); book and trade records are then built without a second
pydantic validation pass (:meth:`schemas.avro_record.AvroRecord.trusted`), every value having
been checked here against what the schema accepts (finite decimal(38, 18), Avro long).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from connectors.config import ValidationBounds
from connectors.venue import Instrument
from connectors.venue import InvalidPayload
from connectors.venue import OrderAck
from processors.portfolio import funding_event_id
from processors.units import BorrowRate
from schemas.fixed_point import MAX_SCALE
from schemas.fixed_point import book_snapshot
from schemas.fixed_point import columns
from schemas.fixed_point import mantissa
from schemas.fixed_point import places
from schemas.records.account import BalanceUpdate
from schemas.records.account import VenuePosition
from schemas.records.common import Envelope
from schemas.records.common import OrderType
from schemas.records.common import PositionSide
from schemas.records.common import PriceLevel
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason
from schemas.records.dlq import DeadLetterReason as R
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderStatus
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingFactSource
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from schemas.records.portfolio import FundingPaid
from schemas.scalars import DECIMAL_LIMIT
from schemas.scalars import DECIMAL_SCALE
from schemas.scalars import LONG_MAX
from schemas.scalars import LONG_MIN
from schemas.scalars import fit_decimal
from schemas.topics import ACCOUNT_BALANCE
from schemas.topics import ACCOUNT_POSITION
from schemas.topics import EXEC_ORDER_EVENT
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_TRADE

EVENT_ID_NAMESPACE = uuid.UUID("5d2f0c8e-6a43-4f4e-9a59-2f1f6c0f3b7e")
_NAMESPACE_SHA1 = hashlib.sha1(EVENT_ID_NAMESPACE.bytes, usedforsecurity=False)
_INTERVAL = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_MILLISECONDS = re.compile(r"^\d+$")
_MINUTE_MS = 60_000
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}
_NUMBERS: dict[float, tuple[Decimal, int]] = {}
"""Memo of ``Decimal(str(x))`` for finite positive floats within decimal(38, 18): value and
exponent. Venue prices sit on a tick grid and sizes on a lot grid, so most levels hit it."""
_NUMBERS_MAX = 100_000  # about 20 MB at most
_FLOAT_LIMIT = 1e19  # below decimal(38, 18)'s 20 integer digits, with room for float rounding


def raw_json(structure: Any) -> bytes:
    """Canonical JSON bytes of a ccxt structure (sorted keys; NaN/Infinity kept as tokens)."""
    try:
        return json.dumps(structure, sort_keys=True, separators=(",", ":"), default=str).encode()
    except (TypeError, ValueError):
        return repr(structure).encode()


def content_identity(raw: bytes) -> str:
    """The identity of a payload that carries none of its own: its sha256 hex digest."""
    return hashlib.sha256(raw).hexdigest()


def uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(EVENT_ID_NAMESPACE, name))``, without the ``uuid.UUID`` object."""
    sha = _NAMESPACE_SHA1.copy()
    sha.update(name.encode("utf-8", "surrogatepass"))  # a lone surrogate from JSON stays an id
    b = bytearray(sha.digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def event_id(topic: str, exchange: str, symbol: str, identity: str) -> str:
    """The deterministic event id of one venue event (see the module docstring for identity)."""
    return uuid5_text(f"{topic}|{exchange}|{symbol}|{identity}")


def parse_interval_ms(text: object) -> int | None:
    """A funding interval in ms: ``'8h'``, ``'120m'``, ``'1d'``, or the bare milliseconds ccxt
    passes through for a length outside its table (``'7200000'`` for 2 h on okx, gate, htx).
    Any positive whole number of minutes is an interval; None for None or empty; ValueError
    for anything else."""
    if text is None or text == "":
        return None
    value = str(text).strip()
    if _MILLISECONDS.match(value):
        ms = int(value)
    else:
        match = _INTERVAL.match(value)
        if match is None:
            raise ValueError(f"expected an interval like '8h', '120m' or ms, was {text!r}")
        ms = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if ms <= 0 or ms % _MINUTE_MS:
        raise ValueError(f"a funding interval is a positive whole number of minutes, was {text!r}")
    return ms


def next_settlement_on_utc_calendar(time_ms: int, interval_ms: int) -> int:
    """The first settlement after ``time_ms`` on a calendar of settlements every
    ``interval_ms`` from 00:00 UTC (8 h: 00:00, 08:00, 16:00; 2 h: every even hour)."""
    return (time_ms // interval_ms + 1) * interval_ms


@dataclass(frozen=True, slots=True)
class Context:
    """Where a structure came from, to build envelopes and refusals.

    ``payload`` is the parsed structure; its raw JSON is built only by :meth:`refuse` (or an
    envelope without a venue identity). ``raw`` overrides it when the bytes are known already.
    """

    exchange: str
    symbol: str | None
    topic: str
    payload: object
    ingest_time_ms: int
    raw_bytes: bytes | None = None

    @property
    def raw(self) -> bytes:
        return raw_json(self.payload) if self.raw_bytes is None else self.raw_bytes

    def refuse(self, reason: R, detail: str, event_time_ms: int | None = None) -> InvalidPayload:
        return InvalidPayload(
            reason,
            detail,
            self.raw,
            exchange=self.exchange,
            symbol=self.symbol,
            topic=self.topic,
            event_time_ms=event_time_ms,
        )

    def decimal(self, value: object, name: str, *, required: bool = True) -> Decimal | None:
        if value is None or value == "":
            if required:
                raise self.refuse(R.MALFORMED_PAYLOAD, f"{name} is missing")
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise self.refuse(R.MALFORMED_PAYLOAD, f"{name} is not a number: {value!r:.60}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.refuse(
                R.MALFORMED_PAYLOAD, f"{name} is not a number: {value!r:.60}"
            ) from None
        if not number.is_finite():
            raise self.refuse(R.NAN_OR_INFINITE, f"{name} is {number}")
        return number

    def required(self, value: object, name: str) -> Decimal:
        number = self.decimal(value, name)
        if number is None:  # unreachable: required=True refuses a missing value
            raise self.refuse(R.MALFORMED_PAYLOAD, f"{name} is missing")
        return number

    def positive(self, value: object, name: str, reason: R = R.NON_POSITIVE_PRICE) -> Decimal:
        number = self.required(value, name)
        if number <= 0:
            raise self.refuse(reason, f"expected a positive {name}, was {number}")
        return number

    def integer(self, value: object, name: str, *, required: bool = True) -> int | None:
        if value is None or value == "":
            if required:
                raise self.refuse(R.MALFORMED_PAYLOAD, f"{name} is missing")
            return None
        if isinstance(value, bool):
            raise self.refuse(R.MALFORMED_PAYLOAD, f"{name} is not an integer: {value!r}")
        number = self.required(value, name)
        if number != number.to_integral_value():
            raise self.refuse(R.MALFORMED_PAYLOAD, f"{name} is not an integer: {number}")
        return int(number)

    def event_time(self, value: object, bounds: ValidationBounds) -> int:
        """The venue time, or the ingest time when the venue sends none; refuses the future."""
        stamp = self.integer(value, "timestamp", required=False)
        if stamp is None:
            return self.ingest_time_ms
        if stamp <= 0:
            raise self.refuse(R.MALFORMED_PAYLOAD, f"timestamp is {stamp}")
        ahead = stamp - self.ingest_time_ms
        if ahead > bounds.max_future_skew_ms:
            raise self.refuse(
                R.EVENT_TIME_IN_FUTURE,
                f"event time is {ahead} ms ahead of ingest (tolerance "
                f"{bounds.max_future_skew_ms} ms)",
                stamp,
            )
        return stamp

    def envelope(
        self, event_time_ms: int, source_seq: int | None = None, identity: str | None = None
    ) -> Envelope:
        """The envelope; ``identity`` is the venue's (module docstring), else the digest."""
        ident = content_identity(self.raw) if identity is None else identity
        return Envelope(
            event_id=event_id(self.topic, self.exchange, self.symbol or "", ident),
            event_time_ms=event_time_ms,
            ingest_time_ms=self.ingest_time_ms,
            source_seq=source_seq,
        )

    def trusted_envelope(
        self, event_time_ms: int, identity: str, source_seq: int | None = None
    ) -> Envelope:
        """:meth:`envelope` without pydantic validation: every value is checked by the caller
        (times and sequence within an Avro long)."""
        return Envelope.trusted(
            {
                "event_id": event_id(self.topic, self.exchange, self.symbol or "", identity),
                "event_time_ms": event_time_ms,
                "ingest_time_ms": self.ingest_time_ms,
                "source_seq": source_seq,
                "correlation_id": None,
                "causation_id": None,
            }
        )

    def long(self, value: int, name: str) -> int:
        if not LONG_MIN <= value <= LONG_MAX:
            raise self.refuse(R.MALFORMED_PAYLOAD, f"{name} {value} does not fit an Avro long")
        return value

    def fit(self, value: Decimal, name: str) -> Decimal:
        """The schema's decimal(38, 18) rounding; a value it cannot hold is refused."""
        try:
            return fit_decimal(value)
        except ValueError as e:
            raise self.refuse(R.MALFORMED_PAYLOAD, f"{name}: {e}") from None


def _mapping(structure: object, ctx: Context, what: str) -> Mapping[str, Any]:
    if not isinstance(structure, Mapping):
        raise ctx.refuse(R.MALFORMED_PAYLOAD, f"expected a {what} object, was {type(structure)}")
    return structure


def _symbol_check(structure: Mapping[str, Any], instrument: Instrument, ctx: Context) -> None:
    symbol = structure.get("symbol")
    if symbol != instrument.symbol:
        raise ctx.refuse(
            R.UNKNOWN_SYMBOL, f"payload is for {symbol!r}, expected {instrument.symbol!r}"
        )


Number = tuple[Decimal, int | None]
"""A parsed venue number and its exponent; exponent None: not positive or not finite (left
for validation to refuse), so not yet fitted to decimal(38, 18)."""
Level = tuple[Decimal, Decimal, int | None]
"""(price, size in contracts, exponent of the size) of one parsed book level."""


def _number(value: object, name: str, ctx: Context) -> Number:
    """``ctx.required`` (refuses missing, non-numbers and NaN/infinity), fitted when positive;
    memoized for floats (a float has one ``Decimal(str(x))``)."""
    if type(value) is float:
        hit = _NUMBERS.get(value)
        if hit is not None:
            return hit
    number = ctx.required(value, name)
    if not number.is_finite() or number <= 0:
        return number, None
    number = ctx.fit(number, name)
    exponent = number.as_tuple().exponent
    found = (number, exponent if isinstance(exponent, int) else 0)
    if type(value) is float:
        if len(_NUMBERS) >= _NUMBERS_MAX:
            _NUMBERS.clear()
        _NUMBERS[value] = found
    return found


def _learn(value: float) -> tuple[Decimal, int] | None:
    """``Decimal(str(value))`` of a finite positive float that decimal(38, 18) holds as is,
    remembered in :data:`_NUMBERS`; None for any other float (the general path decides)."""
    if not 0.0 < value < _FLOAT_LIMIT:  # also false for NaN and infinity
        return None
    text = repr(value)  # repr is str for floats: the venue's shortest text
    number = Decimal(text)
    if "e" in text:  # scientific notation: ask the Decimal
        exponent = number.as_tuple().exponent
        if not isinstance(exponent, int):
            return None
    else:  # "0.844" -> -3, "844.0" -> -1 (a float's repr always has a point)
        exponent = text.index(".") + 1 - len(text)
    if exponent < -DECIMAL_SCALE:
        return None
    if len(_NUMBERS) >= _NUMBERS_MAX:
        _NUMBERS.clear()
    found = _NUMBERS[value] = (number, exponent)
    return found


def _levels(side: object, name: str, depth: int, ctx: Context) -> list[Level]:
    if not isinstance(side, Sequence) or isinstance(side, str | bytes):
        raise ctx.refuse(R.MALFORMED_PAYLOAD, f"{name} is not a list of levels")
    levels: list[Level] = []
    for i, level in enumerate(side[:depth]):
        if not isinstance(level, Sequence) or isinstance(level, str | bytes) or len(level) < 2:
            raise ctx.refuse(R.MALFORMED_PAYLOAD, f"{name}[{i}] is not a [price, size] pair")
        price = _number(level[0], f"{name}[{i}] price", ctx)[0]
        size, exponent = _number(level[1], f"{name}[{i}] size", ctx)
        levels.append((price, size, exponent))
    return levels


def book_fault(bids: Sequence[Level], asks: Sequence[Level]) -> tuple[DeadLetterReason, str] | None:
    """:func:`processors.books.validate_book` on parsed levels: None for a valid book, else its
    ``(dead-letter reason, detail)``: EMPTY_BOOK, NAN_OR_INFINITE, NON_POSITIVE_PRICE,
    NON_POSITIVE_SIZE, MALFORMED_PAYLOAD (bids not strictly descending or asks not strictly
    ascending), CROSSED_BOOK (best bid >= best ask; a locked book counts).
    """
    if not bids:
        return R.EMPTY_BOOK, "the bids side has no level"
    if not asks:
        return R.EMPTY_BOOK, "the asks side has no level"
    for name, levels, descending in (("bids", bids, True), ("asks", asks, False)):
        previous: Decimal | None = None
        for i, (price, size, _) in enumerate(levels):
            if not (price.is_finite() and size.is_finite()):
                return R.NAN_OR_INFINITE, f"{name}[{i}] is {price} x {size}"
            if price <= 0:
                return R.NON_POSITIVE_PRICE, f"{name}[{i}] price is {price}"
            if size <= 0:
                return R.NON_POSITIVE_SIZE, f"{name}[{i}] size is {size}"
            if previous is not None and (price >= previous if descending else price <= previous):
                order = "descending" if descending else "ascending"
                detail = f"{name} must be strictly {order}: level {i} at {price} after {previous}"
                return R.MALFORMED_PAYLOAD, detail
            previous = price
    if bids[0][0] >= asks[0][0]:
        return R.CROSSED_BOOK, f"best bid {bids[0][0]} >= best ask {asks[0][0]}"
    return None


def _exponent_of(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _base_size(
    size: Decimal, exponent: int | None, ctx: Context, name: str, ins: Instrument
) -> Decimal:
    """Contracts → base units, fitted to decimal(38, 18) (skipped when it cannot change it)."""
    contract = ins.contract_size_base
    base = size * contract
    if exponent is None:  # only reachable when validation let a bad number through
        return fit_decimal(base)  # the schema check: ValueError on NaN, as pydantic raises
    if exponent + _exponent_of(contract) < -DECIMAL_SCALE or base >= DECIMAL_LIMIT:
        return ctx.fit(base, name)
    return base


def _price_levels(
    levels: list[Level], ctx: Context, name: str, ins: Instrument
) -> tuple[PriceLevel, ...]:
    trusted = PriceLevel.trusted
    return tuple(
        trusted(
            {
                "price": price if price.is_finite() and price > 0 else fit_decimal(price),
                "size_base": _base_size(size, exponent, ctx, name, ins),
            }
        )
        for price, size, exponent in levels
    )


def _given(value: object) -> bool:
    return value is not None and value != ""


_FIXED: dict[float, tuple[int, int]] = {}
"""Memo: a known float -> its exact decimal as (mantissa, places), normalized (no trailing
zero in the mantissa while places > 0), as :mod:`schemas.fixed_point` writes it."""
_FIXED_BASES: dict[tuple[Any, ...], dict[float, tuple[int, int] | None]] = {}
"""Per contract size: a known size float in contracts -> its size in base units as (mantissa,
places); None when that takes more than 18 places (the general path decides)."""


_UNITS: dict[Decimal, tuple[tuple[int, int], dict[float, tuple[int, int] | None]]] = {}
"""Per contract size: its (mantissa, places) and its table of :data:`_FIXED_BASES`."""


def _normalized(m: int, p: int) -> tuple[int, int]:
    while p > 0 and m % 10 == 0:
        m //= 10
        p -= 1
    return m, p


def _fixed_of(value: float) -> tuple[int, int] | None:
    """The float's venue text (``Decimal(str(x))``) as (mantissa, places), remembered."""
    known = _NUMBERS.get(value) or _learn(value)
    if known is None:
        return None
    _sign, digits, exponent = known[0].as_tuple()
    assert isinstance(exponent, int)
    m = int("".join(map(str, digits)))
    entry = _normalized(m * 10**exponent, 0) if exponent >= 0 else _normalized(m, -exponent)
    if len(_FIXED) >= _NUMBERS_MAX:
        _FIXED.clear()
    _FIXED[value] = entry
    return entry


def _fixed_base(
    size: float, contract: tuple[int, int], bases: dict[float, tuple[int, int] | None]
) -> tuple[int, int] | None:
    """``size`` contracts in base units, exactly: mantissas multiply, places add."""
    found = _FIXED.get(size) or _fixed_of(size)
    entry = None
    if found is not None:
        m, p = _normalized(found[0] * contract[0], found[1] + contract[1])
        entry = (m, p) if p <= MAX_SCALE else None
    if len(bases) >= _NUMBERS_MAX:
        bases.clear()
    bases[size] = entry
    return entry


def _known_side(
    side: list[Any],
    depth: int,
    contract: tuple[int, int],
    bases: dict[float, tuple[int, int] | None],
    descending: bool,
    prices: list[tuple[int, int]],
    sizes: list[tuple[int, int]],
) -> int | None:
    """Append the (mantissa, places) of a side made only of good floats (positive, finite,
    held as is by decimal(38, 18)), strictly sorted, to ``prices`` and ``sizes``; returns its
    level count, or None for anything else (the caller then takes the general path, which
    refuses exactly as before). Float order is the order of their ``Decimal(str(x))``."""
    fixed, previous = _FIXED, None
    n = 0
    for level in side[:depth]:
        if type(level) is not list or len(level) < 2:
            return None
        p = level[0]
        s = level[1]
        if type(p) is not float or type(s) is not float:
            return None
        if previous is not None and (p >= previous if descending else p <= previous):
            return None
        previous = p
        price = fixed.get(p) or _fixed_of(p)
        base = bases[s] if s in bases else _fixed_base(s, contract, bases)
        if price is None or base is None:
            return None
        prices.append(price)
        sizes.append(base)
        n += 1
    return n


def _known_columns(
    ob: Mapping[str, Any], depth: int, instrument: Instrument
) -> dict[str, Any] | None:
    """The fixed-point columns of a book of known floats, uncrossed; None for the general path.

    Same values as the general path's decimal levels through
    :func:`schemas.fixed_point.book_snapshot` (the scale is the fewest places that hold every
    value), without building a decimal level."""
    bids, asks = ob.get("bids"), ob.get("asks")
    if type(bids) is not list or type(asks) is not list or not bids or not asks:
        return None
    best_bid, best_ask = bids[0], asks[0]
    if type(best_bid) is not list or type(best_ask) is not list or not best_bid or not best_ask:
        return None
    bid, ask = best_bid[0], best_ask[0]
    if type(bid) is not float or type(ask) is not float or bid >= ask:
        return None
    contract = instrument.contract_size_base
    found = _UNITS.get(contract)
    if found is None:
        found = _UNITS[contract] = (
            _normalized(mantissa(contract, places(contract)), places(contract)),
            _FIXED_BASES.setdefault(contract.as_tuple(), {}),
        )
    unit, bases = found
    prices: list[tuple[int, int]] = []
    sizes: list[tuple[int, int]] = []
    n = _known_side(bids, depth, unit, bases, True, prices, sizes)
    if n is None or _known_side(asks, depth, unit, bases, False, prices, sizes) is None:
        return None
    return columns(prices, sizes, n)


def _book_time(ctx: Context, stamp: object, bounds: ValidationBounds) -> int:
    """:meth:`Context.event_time`, without the Decimal detour for a plausible int."""
    skew = bounds.max_future_skew_ms
    if type(stamp) is int and stamp > 0 and stamp - ctx.ingest_time_ms <= skew:
        return stamp
    return ctx.event_time(stamp, bounds)


def _book_identity(ctx: Context, nonce: int | None, stamp: object, event_time_ms: int) -> str:
    if nonce is not None:
        return f"nonce:{ctx.long(nonce, 'nonce')}"
    if _given(stamp):
        return f"ts:{event_time_ms}"
    return content_identity(ctx.raw)


def to_book_snapshot(
    order_book: object,
    instrument: Instrument,
    depth: int,
    ingest_time_ms: int,
    bounds: ValidationBounds,
) -> BookSnapshot:
    """ccxt ``OrderBook`` (``symbol``, ``bids``, ``asks``, ``timestamp``, ``nonce``).

    Books whose numbers are all floats already seen (the common case on a live stream) take
    a shortcut that checks the same things on the floats; anything else, including every book
    the shortcut would refuse, goes through the general path and its exact refusal.
    """
    ctx = Context(instrument.exchange, instrument.symbol, MD_BOOK, order_book, ingest_time_ms)
    ob = _mapping(order_book, ctx, "order book")
    _symbol_check(ob, instrument, ctx)
    stamp = ob.get("timestamp")
    raw_nonce = ob.get("nonce")
    columns = _known_columns(ob, depth, instrument)
    if columns is not None:
        event_time_ms = _book_time(ctx, stamp, bounds)
        nonce = (
            raw_nonce if type(raw_nonce) is int else ctx.integer(raw_nonce, "nonce", required=False)
        )
        envelope = ctx.trusted_envelope(
            event_time_ms, _book_identity(ctx, nonce, stamp, event_time_ms), nonce
        )
        return BookSnapshot.trusted(
            {"envelope": envelope, "instrument": instrument.ref, "depth": depth, **columns}
        )
    bids = _levels(ob.get("bids"), "bids", depth, ctx)
    asks = _levels(ob.get("asks"), "asks", depth, ctx)
    event_time_ms = ctx.event_time(stamp, bounds)
    nonce = ctx.integer(raw_nonce, "nonce", required=False)
    fault = book_fault(bids, asks)
    if fault is not None:
        raise ctx.refuse(*fault)
    return book_snapshot(
        envelope=ctx.trusted_envelope(
            event_time_ms, _book_identity(ctx, nonce, stamp, event_time_ms), nonce
        ),
        instrument=instrument.ref,
        depth=depth,
        bids=_price_levels(bids, ctx, "bids", instrument),
        asks=_price_levels(asks, ctx, "asks", instrument),
    )


def funding_interval_of(funding_rate: Mapping[str, Any]) -> int | None:
    """The interval ccxt reports in a funding-rate structure (``interval``), if any."""
    try:
        return parse_interval_ms(funding_rate.get("interval"))
    except ValueError:
        return None


def to_funding_rate_update(
    funding_rate: object,
    instrument: Instrument,
    ingest_time_ms: int,
    bounds: ValidationBounds,
    *,
    interval_ms: int | None = None,
    interval_source: FundingFactSource = FundingFactSource.UNKNOWN,
    source: object = None,
    utc_settlement_calendar: bool = False,
) -> FundingRateUpdate:
    """ccxt ``FundingRate``: ``fundingRate``, ``interval``, ``fundingTimestamp`` (the upcoming
    settlement; ``nextFundingTimestamp`` when absent), ``markPrice``, ``indexPrice``,
    ``nextFundingRate``, ``timestamp``.

    ``source`` is the venue's funding structure when ``funding_rate`` was enriched from other
    calls of the venue: a refusal carries the venue's payload, and a fact found only in the
    enriched structure is marked ``OTHER_ENDPOINT``. ``interval_ms`` (from ``interval_source``)
    is used when the structure carries no interval. With ``utc_settlement_calendar`` a missing
    settlement time is the next one of the venue's UTC calendar (``SETTLEMENT_CALENDAR``).
    """
    payload = funding_rate if source is None else source
    ctx = Context(instrument.exchange, instrument.symbol, MD_FUNDING, payload, ingest_time_ms)
    fr = _mapping(funding_rate, ctx, "funding rate")
    venue = fr if not isinstance(source, Mapping) else source

    def provenance(*names: str) -> FundingFactSource:
        if any(_given(venue.get(n)) for n in names):
            return FundingFactSource.FUNDING_ENDPOINT
        return FundingFactSource.OTHER_ENDPOINT

    _symbol_check(fr, instrument, ctx)
    rate = ctx.required(fr.get("fundingRate"), "fundingRate")
    if abs(rate) > bounds.max_abs_funding_rate:
        raise ctx.refuse(
            R.FUNDING_RATE_OUT_OF_BOUNDS,
            f"|fundingRate| {rate} exceeds {bounds.max_abs_funding_rate}",
        )
    try:
        reported = parse_interval_ms(fr.get("interval"))
    except ValueError as e:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, str(e)) from None
    if reported is not None:
        interval, interval_from = reported, provenance("interval")
    elif interval_ms is not None:
        interval, interval_from = interval_ms, interval_source
    else:
        raise ctx.refuse(
            R.MISSING_FUNDING_INTERVAL,
            f"no funding interval for {instrument.symbol}: none reported, none derivable",
        )
    event_time_ms = ctx.event_time(fr.get("timestamp"), bounds)
    next_time = ctx.integer(fr.get("fundingTimestamp"), "fundingTimestamp", required=False)
    if next_time is None:
        next_time = ctx.integer(
            fr.get("nextFundingTimestamp"), "nextFundingTimestamp", required=False
        )
    if next_time is not None:
        next_from = provenance("fundingTimestamp", "nextFundingTimestamp")
    elif utc_settlement_calendar:
        next_time = next_settlement_on_utc_calendar(event_time_ms, interval)
        next_from = FundingFactSource.SETTLEMENT_CALENDAR
    else:
        raise ctx.refuse(
            R.MALFORMED_PAYLOAD,
            "fundingTimestamp and nextFundingTimestamp are missing and the venue has no "
            "known settlement calendar",
        )
    predicted = ctx.decimal(fr.get("nextFundingRate"), "nextFundingRate", required=False)
    if predicted is not None and abs(predicted) > bounds.max_abs_funding_rate:
        raise ctx.refuse(
            R.FUNDING_RATE_OUT_OF_BOUNDS,
            f"|nextFundingRate| {predicted} exceeds {bounds.max_abs_funding_rate}",
        )
    stamp = fr.get("timestamp")
    identity = f"ts:{event_time_ms}|next:{next_time}" if _given(stamp) else None
    return FundingRateUpdate(
        envelope=ctx.envelope(event_time_ms, identity=identity),
        instrument=instrument.ref,
        funding_rate=rate,
        funding_interval_ms=interval,
        next_funding_time_ms=next_time,
        mark_price=ctx.positive(fr.get("markPrice"), "markPrice"),
        index_price=(
            None
            if fr.get("indexPrice") is None
            else ctx.positive(fr.get("indexPrice"), "indexPrice")
        ),
        predicted_next_funding_rate=predicted,
        funding_interval_source=interval_from,
        next_funding_time_source=next_from,
        mark_price_source=provenance("markPrice"),
    )


_SIDES = {"buy": Side.BUY, "sell": Side.SELL}


def to_trade(
    trade: object,
    instrument: Instrument,
    ingest_time_ms: int,
    bounds: ValidationBounds,
) -> Trade:
    """ccxt ``Trade``: ``id``, ``timestamp``, ``side``, ``price``, ``amount`` (contracts)."""
    ctx = Context(instrument.exchange, instrument.symbol, MD_TRADE, trade, ingest_time_ms)
    t = _mapping(trade, ctx, "trade")
    _symbol_check(t, instrument, ctx)
    price, price_exponent = _number(t.get("price"), "price", ctx)
    if price_exponent is None:
        raise ctx.refuse(R.NON_POSITIVE_PRICE, f"expected a positive price, was {price}")
    amount, exponent = _number(t.get("amount"), "amount", ctx)
    if exponent is None:
        raise ctx.refuse(R.NON_POSITIVE_SIZE, f"expected a positive amount, was {amount}")
    event_time_ms = ctx.event_time(t.get("timestamp"), bounds)
    trade_id = t.get("id")
    identity = content_identity(ctx.raw) if trade_id is None else f"trade:{trade_id}"
    return Trade.trusted(
        {
            "envelope": ctx.trusted_envelope(event_time_ms, identity),
            "instrument": instrument.ref,
            "trade_id": None if trade_id is None else str(trade_id),
            "side": _SIDES.get(str(t.get("side")), Side.UNKNOWN),
            "price": price,
            "size_base": _base_size(amount, exponent, ctx, "amount", instrument),
        }
    )


def to_balance_updates(
    balance: object, exchange: str, account: str, ingest_time_ms: int
) -> list[BalanceUpdate]:
    """ccxt ``Balances``: one update per currency with a ``{free, used, total}`` entry."""
    ctx = Context(exchange, None, ACCOUNT_BALANCE, balance, ingest_time_ms)
    b = _mapping(balance, ctx, "balance")
    stamp = ctx.integer(b.get("timestamp"), "timestamp", required=False) or ingest_time_ms
    skip = {"info", "timestamp", "datetime", "free", "used", "total", "debt"}
    out = []
    for currency in sorted(k for k in b if k not in skip):
        entry = b[currency]
        if not isinstance(entry, Mapping):
            continue
        free = ctx.decimal(entry.get("free"), f"{currency}.free", required=False)
        used = ctx.decimal(entry.get("used"), f"{currency}.used", required=False)
        total = ctx.decimal(entry.get("total"), f"{currency}.total", required=False)
        if total is None and free is not None and used is not None:
            total = free + used
        if total is None:
            raise ctx.refuse(R.MALFORMED_PAYLOAD, f"{currency} has no total")
        cur = Context(exchange, currency, ACCOUNT_BALANCE, entry, ingest_time_ms)
        out.append(
            BalanceUpdate(
                envelope=cur.envelope(stamp),
                exchange=exchange,
                account=account,
                currency=currency,
                free=free if free is not None else total - (used or Decimal(0)),
                used=used if used is not None else total - (free or Decimal(0)),
                total=total,
            )
        )
    return out


_POSITION_SIDES = {"long": PositionSide.LONG, "short": PositionSide.SHORT}


def to_venue_position(
    position: object, instrument: Instrument, ingest_time_ms: int
) -> VenuePosition:
    """ccxt ``Position``: ``side``, ``contracts``, ``contractSize``, prices, PnL, margin."""
    ctx = Context(
        instrument.exchange, instrument.symbol, ACCOUNT_POSITION, position, ingest_time_ms
    )
    p = _mapping(position, ctx, "position")
    _symbol_check(p, instrument, ctx)
    contracts = ctx.decimal(p.get("contracts"), "contracts", required=False) or Decimal(0)
    size = ctx.decimal(p.get("contractSize"), "contractSize", required=False)
    contract_size = size if size is not None else instrument.contract_size_base
    side = _POSITION_SIDES.get(str(p.get("side")), PositionSide.UNKNOWN)
    if contracts == 0:
        side = PositionSide.FLAT
    stamp = ctx.integer(p.get("timestamp"), "timestamp", required=False) or ingest_time_ms
    margin = p.get("initialMargin") if p.get("initialMargin") is not None else p.get("collateral")
    return VenuePosition(
        envelope=ctx.envelope(stamp),
        instrument=instrument.ref,
        side=side,
        size_base=abs(contracts) * contract_size,
        contract_size_base=contract_size,
        entry_price=ctx.decimal(p.get("entryPrice"), "entryPrice", required=False),
        mark_price=ctx.decimal(p.get("markPrice"), "markPrice", required=False),
        liquidation_price=ctx.decimal(
            p.get("liquidationPrice"), "liquidationPrice", required=False
        ),
        unrealized_pnl_quote=ctx.decimal(p.get("unrealizedPnl"), "unrealizedPnl", required=False),
        margin_quote=ctx.decimal(margin, "initialMargin", required=False),
        leverage=ctx.decimal(p.get("leverage"), "leverage", required=False),
    )


_ORDER_TYPES = {"market": OrderType.MARKET, "limit": OrderType.LIMIT}


def order_status(
    order: Mapping[str, Any], filled: Decimal, ctx: Context, default: OrderStatus | None = None
) -> OrderStatus:
    """ccxt order ``status`` → ours; an unknown status fails loudly (never guessed).

    ``default`` applies only when the venue sent no status at all (e.g. a bare create ack).
    """
    status = order.get("status")
    if status is None and default is not None:
        return default
    if status == "open":
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    if status == "closed":
        return OrderStatus.FILLED
    if status in ("canceled", "cancelled", "expired"):
        return OrderStatus.CANCELED
    if status == "rejected":
        return OrderStatus.REJECTED
    raise ctx.refuse(R.MALFORMED_PAYLOAD, f"unknown order status {status!r}")


def to_order_ack(
    order: object,
    instrument: Instrument,
    ingest_time_ms: int,
    default_status: OrderStatus | None = None,
) -> OrderAck:
    """ccxt ``Order`` → :class:`OrderAck` (sizes converted from contracts to base)."""
    ctx = Context(instrument.exchange, instrument.symbol, EXEC_ORDER_EVENT, order, ingest_time_ms)
    o = _mapping(order, ctx, "order")
    size = instrument.contract_size_base
    amount = ctx.decimal(o.get("amount"), "amount", required=False) or Decimal(0)
    filled = ctx.decimal(o.get("filled"), "filled", required=False) or Decimal(0)
    client_id = o.get("clientOrderId")
    venue_id = o.get("id")
    return OrderAck(
        client_order_id="" if client_id is None else str(client_id),
        venue_order_id=None if venue_id is None else str(venue_id),
        instrument=instrument.ref,
        status=order_status(o, filled, ctx, default_status),
        side=_SIDES.get(str(o.get("side")), Side.UNKNOWN),
        order_type=_ORDER_TYPES.get(str(o.get("type")), OrderType.UNKNOWN),
        amount_base=amount * size,
        filled_base=filled * size,
        average_price=ctx.decimal(o.get("average"), "average", required=False),
        limit_price=ctx.decimal(o.get("price"), "price", required=False),
        timestamp_ms=ctx.integer(o.get("timestamp"), "timestamp", required=False),
    )


def to_order_event(ack: OrderAck, ingest_time_ms: int, detail: str | None = None) -> OrderEvent:
    """An :class:`OrderAck` as the ``exec.order_event`` record."""
    raw = f"{ack.client_order_id}|{ack.venue_order_id}|{ack.status}|{ack.filled_base}".encode()
    ins = ack.instrument
    ctx = Context(ins.exchange, ins.symbol, EXEC_ORDER_EVENT, ack, ingest_time_ms, raw_bytes=raw)
    return OrderEvent(
        envelope=ctx.envelope(ack.timestamp_ms or ingest_time_ms),
        client_order_id=ack.client_order_id,
        venue_order_id=ack.venue_order_id,
        instrument=ack.instrument,
        status=ack.status,
        side=ack.side,
        order_type=ack.order_type,
        size_base=ack.amount_base,
        limit_price=ack.limit_price,
        filled_size_base=ack.filled_base,
        average_fill_price=ack.average_price,
        detail=detail,
    )


def to_funding_paid(
    entry: object,
    instrument: Instrument,
    *,
    interval_ms: int | None = None,
    rate: Decimal | None = None,
    mark_price: Decimal | None = None,
) -> FundingPaid:
    """ccxt ``FundingHistory`` (``timestamp``, ``amount``, ``code``) -> ``portfolio.funding``.

    The settlement's rate, mark price and interval come from the entry when it states them
    (``rate``, ``markPrice`` or ``info.markPrice``, ``interval``), else from the arguments (the
    venue's funding-rate history, its mark, its interval). ``net_size_base`` is the position
    the payment implies, ``-amount / (rate * mark)`` (zero at a zero rate). The event id is
    derived from the venue, the instrument and the funding time, so a refetched settlement is
    the same event."""
    ctx = Context(instrument.exchange, instrument.symbol, "portfolio.funding", entry, 0)
    e = _mapping(entry, ctx, "funding history entry")
    stamp = ctx.integer(e.get("timestamp"), "timestamp")
    if stamp is None:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, "timestamp is missing")
    amount = ctx.required(e.get("amount"), "amount")
    raw_info = e.get("info")
    info: Mapping[str, Any] = raw_info if isinstance(raw_info, Mapping) else {}
    stated_rate = ctx.decimal(e.get("rate"), "rate", required=False)
    stated_mark = ctx.decimal(
        e.get("markPrice", info.get("markPrice")), "markPrice", required=False
    )
    rate = stated_rate if stated_rate is not None else rate
    mark = stated_mark if stated_mark is not None else mark_price
    if rate is None or mark is None or mark <= 0:
        raise ctx.refuse(
            R.MALFORMED_PAYLOAD, f"no funding rate or mark price for the settlement at {stamp}"
        )
    try:
        stated_interval = parse_interval_ms(e.get("interval"))
    except ValueError as exc:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, str(exc)) from exc
    interval = stated_interval if stated_interval is not None else interval_ms
    if interval is None:
        raise ctx.refuse(R.MISSING_FUNDING_INTERVAL, f"no funding interval for {stamp}")
    implied = Decimal(0) if rate == 0 else fit_decimal(-amount / (rate * mark))
    return FundingPaid(
        envelope=Envelope(
            event_id=funding_event_id(instrument.ref, stamp),
            event_time_ms=stamp,
            ingest_time_ms=stamp,
        ),
        instrument=instrument.ref,
        funding_rate=rate,
        funding_interval_ms=interval,
        funding_time_ms=stamp,
        net_size_base=implied,
        mark_price=mark,
        amount_quote=amount,
        quote_currency=str(e.get("code") or instrument.settle or instrument.quote),
    )


def borrow_rate_of(raw: object) -> BorrowRate | None:
    """ccxt borrow-rate structure (``rate`` per ``period`` ms) -> :class:`BorrowRate`; None
    when the venue states no usable rate (missing, negative or not a number)."""
    if not isinstance(raw, Mapping):
        return None
    rate, period = raw.get("rate"), raw.get("period")
    if rate is None or period is None or isinstance(rate, bool):
        return None
    try:
        value, period_ms = Decimal(str(rate)), int(period)
        return BorrowRate(value, period_ms)
    except (InvalidOperation, ValueError, TypeError):
        return None
