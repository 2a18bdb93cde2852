"""ccxt unified structures → schema records, field by field.

Every reader names the ccxt key it reads. Numbers become ``Decimal(str(x))`` (ccxt hands out
floats, whose shortest repr is the venue's text), never float arithmetic. Anything that cannot
be represented raises :class:`connectors.venue.InvalidPayload` with a ``DeadLetterReason`` and
the raw JSON of the structure (``info`` included); the caller dead-letters it and carries on.
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
from connectors.venue import FundingPayment
from connectors.venue import Instrument
from connectors.venue import InvalidPayload
from connectors.venue import OrderAck
from processors.books import validate_book
from processors.units import Book
from processors.units import BookLevel
from schemas.errors import InvalidEvent
from schemas.fixed_point import book_snapshot
from schemas.records.account import BalanceUpdate
from schemas.records.account import VenuePosition
from schemas.records.common import Envelope
from schemas.records.common import OrderType
from schemas.records.common import PositionSide
from schemas.records.common import PriceLevel
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason as R
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderStatus
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from schemas.topics import ACCOUNT_BALANCE
from schemas.topics import ACCOUNT_POSITION
from schemas.topics import EXEC_ORDER_EVENT
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_TRADE

EVENT_ID_NAMESPACE = uuid.UUID("5d2f0c8e-6a43-4f4e-9a59-2f1f6c0f3b7e")
_INTERVAL = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def raw_json(structure: Any) -> bytes:
    """Canonical JSON bytes of a ccxt structure (sorted keys; NaN/Infinity kept as tokens)."""
    try:
        return json.dumps(structure, sort_keys=True, separators=(",", ":"), default=str).encode()
    except (TypeError, ValueError):
        return repr(structure).encode()


def event_id(topic: str, exchange: str, symbol: str, raw: bytes) -> str:
    """A deterministic event id: the same venue payload always yields the same id."""
    digest = hashlib.sha256(raw).hexdigest()
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{topic}|{exchange}|{symbol}|{digest}"))


def parse_interval_ms(text: object) -> int | None:
    """``'8h'`` → 28 800 000; None for None or empty; ValueError for anything else."""
    if text is None or text == "":
        return None
    match = _INTERVAL.match(str(text))
    if match is None or int(match.group(1)) <= 0:
        raise ValueError(f"expected an interval like '8h', was {text!r}")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Context:
    """Where a structure came from, to build envelopes and refusals."""

    exchange: str
    symbol: str | None
    topic: str
    raw: bytes
    ingest_time_ms: int

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

    def envelope(self, event_time_ms: int, source_seq: int | None = None) -> Envelope:
        return Envelope(
            event_id=event_id(self.topic, self.exchange, self.symbol or "", self.raw),
            event_time_ms=event_time_ms,
            ingest_time_ms=self.ingest_time_ms,
            source_seq=source_seq,
        )


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


def _levels(side: object, name: str, depth: int, ctx: Context) -> tuple[BookLevel, ...]:
    if not isinstance(side, Sequence) or isinstance(side, str | bytes):
        raise ctx.refuse(R.MALFORMED_PAYLOAD, f"{name} is not a list of levels")
    levels = []
    for i, level in enumerate(side[:depth]):
        if not isinstance(level, Sequence) or isinstance(level, str | bytes) or len(level) < 2:
            raise ctx.refuse(R.MALFORMED_PAYLOAD, f"{name}[{i}] is not a [price, size] pair")
        price = ctx.required(level[0], f"{name}[{i}] price")
        size = ctx.required(level[1], f"{name}[{i}] size")
        levels.append(BookLevel(price, size))
    return tuple(levels)


def to_book_snapshot(
    order_book: object,
    instrument: Instrument,
    depth: int,
    ingest_time_ms: int,
    bounds: ValidationBounds,
    raw: bytes | None = None,
) -> BookSnapshot:
    """ccxt ``OrderBook`` (``symbol``, ``bids``, ``asks``, ``timestamp``, ``nonce``)."""
    raw = raw_json(order_book) if raw is None else raw
    ctx = Context(instrument.exchange, instrument.symbol, MD_BOOK, raw, ingest_time_ms)
    ob = _mapping(order_book, ctx, "order book")
    _symbol_check(ob, instrument, ctx)
    bids = _levels(ob.get("bids"), "bids", depth, ctx)
    asks = _levels(ob.get("asks"), "asks", depth, ctx)
    event_time_ms = ctx.event_time(ob.get("timestamp"), bounds)
    nonce = ctx.integer(ob.get("nonce"), "nonce", required=False)
    try:
        validate_book(Book(bids, asks, event_time_ms, nonce))
    except InvalidEvent as e:
        raise ctx.refuse(e.reason, e.detail) from None
    size = instrument.contract_size_base
    return book_snapshot(
        envelope=ctx.envelope(event_time_ms, nonce),
        instrument=instrument.ref,
        depth=depth,
        bids=tuple(PriceLevel(price=lv.price, size_base=lv.size_base * size) for lv in bids),
        asks=tuple(PriceLevel(price=lv.price, size_base=lv.size_base * size) for lv in asks),
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
    raw: bytes | None = None,
) -> FundingRateUpdate:
    """ccxt ``FundingRate``: ``fundingRate``, ``interval``, ``fundingTimestamp`` (the upcoming
    settlement; ``nextFundingTimestamp`` when absent), ``markPrice``, ``indexPrice``,
    ``nextFundingRate``, ``timestamp``. ``interval_ms`` is the venue-reported or derived
    interval used when the structure carries none.
    """
    raw = raw_json(funding_rate) if raw is None else raw
    ctx = Context(instrument.exchange, instrument.symbol, MD_FUNDING, raw, ingest_time_ms)
    fr = _mapping(funding_rate, ctx, "funding rate")
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
    interval = reported or interval_ms
    if interval is None:
        raise ctx.refuse(
            R.MISSING_FUNDING_INTERVAL,
            f"no funding interval for {instrument.symbol}: none reported, none derivable",
        )
    event_time_ms = ctx.event_time(fr.get("timestamp"), bounds)
    next_time = ctx.integer(fr.get("fundingTimestamp"), "fundingTimestamp", required=False)
    if next_time is None:
        next_time = ctx.integer(fr.get("nextFundingTimestamp"), "nextFundingTimestamp")
    if next_time is None:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, "fundingTimestamp is missing")
    predicted = ctx.decimal(fr.get("nextFundingRate"), "nextFundingRate", required=False)
    if predicted is not None and abs(predicted) > bounds.max_abs_funding_rate:
        raise ctx.refuse(
            R.FUNDING_RATE_OUT_OF_BOUNDS,
            f"|nextFundingRate| {predicted} exceeds {bounds.max_abs_funding_rate}",
        )
    return FundingRateUpdate(
        envelope=ctx.envelope(event_time_ms),
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
    )


_SIDES = {"buy": Side.BUY, "sell": Side.SELL}


def to_trade(
    trade: object,
    instrument: Instrument,
    ingest_time_ms: int,
    bounds: ValidationBounds,
    raw: bytes | None = None,
) -> Trade:
    """ccxt ``Trade``: ``id``, ``timestamp``, ``side``, ``price``, ``amount`` (contracts)."""
    raw = raw_json(trade) if raw is None else raw
    ctx = Context(instrument.exchange, instrument.symbol, MD_TRADE, raw, ingest_time_ms)
    t = _mapping(trade, ctx, "trade")
    _symbol_check(t, instrument, ctx)
    price = ctx.positive(t.get("price"), "price")
    amount = ctx.positive(t.get("amount"), "amount", R.NON_POSITIVE_SIZE)
    event_time_ms = ctx.event_time(t.get("timestamp"), bounds)
    trade_id = t.get("id")
    return Trade(
        envelope=ctx.envelope(event_time_ms),
        instrument=instrument.ref,
        trade_id=None if trade_id is None else str(trade_id),
        side=_SIDES.get(str(t.get("side")), Side.UNKNOWN),
        price=price,
        size_base=amount * instrument.contract_size_base,
    )


def to_balance_updates(
    balance: object, exchange: str, account: str, ingest_time_ms: int
) -> list[BalanceUpdate]:
    """ccxt ``Balances``: one update per currency with a ``{free, used, total}`` entry."""
    raw = raw_json(balance)
    ctx = Context(exchange, None, ACCOUNT_BALANCE, raw, ingest_time_ms)
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
        cur = Context(exchange, currency, ACCOUNT_BALANCE, raw_json(entry), ingest_time_ms)
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
    raw = raw_json(position)
    ctx = Context(instrument.exchange, instrument.symbol, ACCOUNT_POSITION, raw, ingest_time_ms)
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
    raw = raw_json(order)
    ctx = Context(instrument.exchange, instrument.symbol, EXEC_ORDER_EVENT, raw, ingest_time_ms)
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
    ctx = Context(
        ack.instrument.exchange, ack.instrument.symbol, EXEC_ORDER_EVENT, raw, ingest_time_ms
    )
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


def to_funding_payment(entry: object, instrument: Instrument) -> FundingPayment:
    """ccxt ``FundingHistory``: ``timestamp``, ``amount``, ``code``, ``id``."""
    raw = raw_json(entry)
    ctx = Context(instrument.exchange, instrument.symbol, "portfolio.funding", raw, 0)
    e = _mapping(entry, ctx, "funding history entry")
    stamp = ctx.integer(e.get("timestamp"), "timestamp")
    if stamp is None:
        raise ctx.refuse(R.MALFORMED_PAYLOAD, "timestamp is missing")
    venue_id = e.get("id")
    return FundingPayment(
        instrument=instrument.ref,
        time_ms=stamp,
        amount=ctx.required(e.get("amount"), "amount"),
        currency=str(e.get("code") or instrument.settle or instrument.quote),
        venue_id=None if venue_id is None else str(venue_id),
    )
