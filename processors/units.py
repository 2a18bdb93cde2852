"""Unit-bearing value types shared by the processors.

Conventions (every processor follows them):

- Money, prices, sizes and rates are ``Decimal``; computations do not quantize (the codec does,
  at the edge). Figures a reducer *keeps* in its state are fitted to decimal(38, 18) where they
  are made (:func:`persistable`), so the state record round-trips them exactly.
- Names carry units: ``_ms`` epoch or duration milliseconds, ``_base`` base-asset units,
  ``_quote`` quote-currency units, ``_bps`` basis points (1 bp = 0.0001), plain fractions otherwise.
- A funding rate is a fraction *per its own interval*; the interval travels with it.
- Sign of funding: a positive rate means longs pay shorts.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar
from typing import cast

from processors.lots import Lot
from schemas.errors import InvalidEvent
from schemas.records.common import MarketType
from schemas.records.common import PositionSide
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason
from schemas.scalars import wire_decimal

MS_PER_HOUR = 3_600_000
HOURS_PER_YEAR = 8760
MS_PER_YEAR = MS_PER_HOUR * HOURS_PER_YEAR
BPS = Decimal(10_000)
ZERO = Decimal(0)
ONE = Decimal(1)
TWO = Decimal(2)
_T = TypeVar("_T")
TRADED_TYPES = (MarketType.SPOT, MarketType.PERP)
"""The market types the detector trades; instruments of other types are not in its view."""


ORDER_SIDES = (Side.BUY, Side.SELL)
"""The sides of ``common.Side`` an order takes (every one but ``UNKNOWN``)."""
LEG_SIDES = (PositionSide.LONG, PositionSide.SHORT)
"""The directions of ``common.PositionSide`` a leg holds (not ``UNKNOWN`` or ``FLAT``)."""


def opposite(side: Side) -> Side:
    """The other order side (``common.Side``: BUY takes asks, SELL takes bids)."""
    return Side.SELL if side is Side.BUY else Side.BUY


def _directed(side: PositionSide) -> PositionSide:
    if side not in LEG_SIDES:
        raise ValueError(f"a position leg is LONG or SHORT, was {side}")
    return side


def sign(side: PositionSide) -> int:
    """+1 for a LONG leg, -1 for a SHORT one (``common.PositionSide``)."""
    return 1 if _directed(side) is PositionSide.LONG else -1


def entry_side(side: PositionSide) -> Side:
    """The order side that opens a leg of ``side``."""
    return Side.BUY if _directed(side) is PositionSide.LONG else Side.SELL


def exit_side(side: PositionSide) -> Side:
    """The order side that closes a leg of ``side``."""
    return opposite(entry_side(side))


class Liquidity(enum.StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


@dataclass(frozen=True, slots=True, order=True)
class InstrumentKey:
    """An exchange id plus a ccxt unified symbol (``BTC/USDT`` spot, ``BTC/USDT:USDT`` perp)."""

    exchange: str
    symbol: str

    @property
    def base(self) -> str:
        return self.symbol.split("/", 1)[0]

    @property
    def quote(self) -> str:
        rest = self.symbol.split("/", 1)[1] if "/" in self.symbol else ""
        return rest.split(":", 1)[0]

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


@dataclass(frozen=True, slots=True)
class FundingRate:
    """A funding rate as a fraction per ``interval_ms`` (positive: longs pay shorts)."""

    rate: Decimal
    interval_ms: int

    def __post_init__(self) -> None:
        if self.interval_ms <= 0:
            raise InvalidEvent(
                DeadLetterReason.MISSING_FUNDING_INTERVAL,
                f"expected a positive funding interval, was {self.interval_ms} ms",
            )
        if not self.rate.is_finite():
            raise InvalidEvent(
                DeadLetterReason.NAN_OR_INFINITE, f"expected a finite rate, was {self.rate}"
            )

    @property
    def interval_hours(self) -> Decimal:
        return Decimal(self.interval_ms) / MS_PER_HOUR

    @property
    def periods_per_year(self) -> Decimal:
        return Decimal(MS_PER_YEAR) / self.interval_ms

    def per_hour(self) -> Decimal:
        """The rate per hour (for comparison across venues, never for accounting)."""
        return self.rate * MS_PER_HOUR / self.interval_ms

    def per(self, interval_ms: int) -> Decimal:
        """The simple rate over another interval (``per(8h)`` is the 8h-reference rate)."""
        return self.rate * interval_ms / self.interval_ms

    def apr_simple(self) -> Decimal:
        """Simple annualization: ``rate * 8760 / interval_hours`` (a fraction per year)."""
        return self.rate * MS_PER_YEAR / self.interval_ms

    def apr_compounded(self) -> Decimal:
        """Compounded annualization: ``(1 + rate) ** periods_per_year - 1``."""
        growth = ONE + self.rate
        if growth <= 0:
            raise InvalidEvent(
                DeadLetterReason.FUNDING_RATE_OUT_OF_BOUNDS,
                f"cannot compound a rate of {self.rate} (1 + rate <= 0)",
            )
        periods = self.periods_per_year
        if periods == periods.to_integral_value():
            return growth ** int(periods) - ONE
        return growth**periods - ONE


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    size_base: Decimal


@dataclass(frozen=True, slots=True)
class Book:
    """An order book snapshot: bids best (highest) first, asks best (lowest) first."""

    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    ts_ms: int
    seq: int | None = None

    @property
    def best_bid(self) -> Decimal:
        return self.bids[0].price

    @property
    def best_ask(self) -> Decimal:
        return self.asks[0].price

    @property
    def mid(self) -> Decimal:
        return (self.bids[0].price + self.asks[0].price) / TWO

    def levels(self, side: Side) -> tuple[BookLevel, ...]:
        """The levels an order of ``side`` takes from (BUY takes asks)."""
        return self.asks if side is Side.BUY else self.bids

    def touch(self, side: Side) -> Decimal:
        """The best price an order of ``side`` pays or receives."""
        return self.levels(side)[0].price


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Fee rates as fractions of notional; a negative maker fee is a rebate."""

    maker: Decimal
    taker: Decimal

    def rate(self, liquidity: Liquidity) -> Decimal:
        return self.maker if liquidity is Liquidity.MAKER else self.taker


@dataclass(frozen=True, slots=True)
class FundingSchedule:
    """What is known about a perp's funding: the rate in force, its next settlement and the mark.

    Venues settle ``rate * mark_price * size_base`` per settlement, so the mark price the funding
    record carries (not the book mid) prices expected funding.
    """

    rate: FundingRate
    next_funding_time_ms: int
    mark_price: Decimal

    def __post_init__(self) -> None:
        if not (self.mark_price.is_finite() and self.mark_price > 0):
            reason = (
                DeadLetterReason.NON_POSITIVE_PRICE
                if self.mark_price.is_finite()
                else DeadLetterReason.NAN_OR_INFINITE
            )
            raise InvalidEvent(reason, f"expected a positive mark price, was {self.mark_price}")


@dataclass(frozen=True, slots=True)
class BorrowRate:
    """Interest to borrow the base asset (a short spot leg sells borrowed coins): a fraction of
    the borrowed value per ``period_ms`` (venues quote per day or per year), charged for every
    started hour the loan is open, as the margin venues (Binance, OKX, Bybit) charge it."""

    rate: Decimal
    period_ms: int

    def __post_init__(self) -> None:
        if self.period_ms <= 0:
            raise ValueError(f"expected a positive borrow period, was {self.period_ms} ms")
        if not (self.rate.is_finite() and self.rate >= 0):
            raise ValueError(f"expected a finite non-negative borrow rate, was {self.rate}")

    def per_hour(self) -> Decimal:
        return self.rate * MS_PER_HOUR / self.period_ms

    @staticmethod
    def charges(horizon_ms: int) -> int:
        """Hourly charges of a loan held ``horizon_ms``: one per started hour, the first at
        the borrow."""
        return -(-horizon_ms // MS_PER_HOUR)

    def cost_quote(self, size_base: Decimal, price: Decimal, horizon_ms: int) -> Decimal:
        """Interest on ``size_base`` borrowed at ``price`` for ``horizon_ms``, quote currency."""
        return self.charges(horizon_ms) * self.per_hour() * size_base * price


@dataclass(frozen=True, slots=True)
class InstrumentState:
    """The market state of one instrument, as the detector and cost model see it."""

    key: InstrumentKey
    kind: MarketType
    """``SPOT`` or ``PERP`` (:data:`TRADED_TYPES`)."""
    book: Book
    fees: FeeSchedule
    funding: FundingSchedule | None = None
    lot: Lot | None = None
    """What the venue accepts as an order amount (from its instrument facts); None: unknown,
    any size."""
    borrow: BorrowRate | None = None
    """Interest to borrow the base asset on this venue (spot), from its instrument facts; a
    short spot leg needs it (None: the venue's rate is unknown, no short spot)."""


def bps_of(amount: Decimal, reference: Decimal) -> Decimal:
    """``amount`` in basis points of ``reference`` (zero reference gives zero)."""
    if reference == 0:
        return ZERO
    return amount / reference * BPS


def persistable(value: _T) -> _T:
    """``value`` with every ``Decimal`` in it (through dataclasses and tuples) as decimal(38, 18)
    reads back: rounded half-even to exactly 18 places (:func:`schemas.scalars.wire_decimal`).

    A reducer keeps only such figures in its state, so the state record
    (:mod:`schemas.records.state`) round-trips them exactly, representation included (a text
    such as a risk reason's detail prints the same digits after a restart), and a restored
    worker computes what an uninterrupted one does. Raises ``ValueError`` for 20+ integer
    digits, as the codec would.
    """
    return cast(_T, _fit(value))


def _fit(value: object) -> object:
    kind = type(value)
    if kind is Decimal:
        return wire_decimal(value)  # type: ignore[arg-type]
    plan = _PLANS.get(kind)
    if plan is None:
        plan = _PLANS[kind] = _plan(kind)
    if plan is _AS_IS:
        return value
    if plan is _GENERIC:
        return _fit_generic(value)
    if plan is _TUPLE:
        return tuple([_fit(item) for item in value])  # type: ignore[attr-defined]
    changes: dict[str, object] = {}
    for name in plan:
        item = getattr(value, name)
        leaf = type(item)
        if leaf is Decimal:
            changes[name] = wire_decimal(item)
        elif leaf in _LEAVES:
            changes[name] = item
        else:
            changes[name] = _fit(item)
    return kind(**changes)


_LEAVES = frozenset({int, str, bool, float, type(None)})
"""Exact types :func:`_fit` returns as they are without looking further (no Decimal inside)."""


_AS_IS: tuple[str, ...] = ("<as is>",)
_GENERIC: tuple[str, ...] = ("<generic>",)
_TUPLE: tuple[str, ...] = ("<tuple>",)
_PLANS: dict[type, tuple[str, ...]] = {}
"""How :func:`_fit` treats each exact type it has met: returned as is (no Decimal inside), a
plain tuple, a dataclass rebuilt from the fields named (what ``dataclasses.replace`` does with
every field given), or :func:`_fit_generic` (subclasses of Decimal or tuple, dataclasses with
init-less fields or init-only variables: whatever ``replace`` does with them, it does)."""


def _plan(kind: type) -> tuple[str, ...]:
    if kind is tuple:
        return _TUPLE
    if issubclass(kind, Decimal | tuple):
        return _GENERIC
    if not dataclasses.is_dataclass(kind):
        return _AS_IS
    declared = kind.__dataclass_fields__.values()
    names = tuple(f.name for f in dataclasses.fields(kind))
    if len(names) != len(declared) or not all(f.init for f in declared):
        return _GENERIC
    return names


def _fit_generic(value: object) -> object:
    """The reference walk (:func:`_fit` gives the same for every type it plans)."""
    if isinstance(value, Decimal):
        return wire_decimal(value)
    if isinstance(value, tuple):
        return tuple(_fit_generic(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _fit_generic(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value
