"""Position and PnL accounting in quote, average-cost method, with funding per leg.

- ``qty_base`` is signed: positive long, negative short.
- A fill in the position's direction moves the average price; against it, it realizes
  ``(price - avg) * closed_qty`` (sign-adjusted) and, past flat, opens the rest at the fill price.
- Fees are costs in quote (a negative fee is a rebate); they accumulate in ``fees_quote``.
- Funding at a settlement: ``amount = -rate * qty_base * mark_price`` (positive rate: longs
  pay), booked once per ``funding_time_ms`` (a replayed settlement is ignored).
- ``total = realized + funding - fees + unrealized(mark)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from decimal import Decimal

from processors.units import ZERO
from processors.units import InstrumentKey
from schemas.errors import InvalidEvent
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason


@dataclass(frozen=True, slots=True)
class Fill:
    instrument: InstrumentKey
    side: Side
    qty_base: Decimal
    price: Decimal
    fee_quote: Decimal
    ts_ms: int


@dataclass(frozen=True, slots=True)
class FundingPaid:
    """A funding settlement on one leg; ``amount_quote`` positive when received."""

    instrument: InstrumentKey
    amount_quote: Decimal
    rate: Decimal
    mark_price: Decimal
    qty_base: Decimal
    funding_time_ms: int


@dataclass(frozen=True, slots=True)
class Position:
    instrument: InstrumentKey
    qty_base: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl_quote: Decimal = ZERO
    funding_quote: Decimal = ZERO
    fees_quote: Decimal = ZERO
    last_funding_time_ms: int | None = None

    def unrealized_quote(self, mark_price: Decimal) -> Decimal:
        return self.qty_base * (mark_price - self.avg_price)

    def total_pnl_quote(self, mark_price: Decimal) -> Decimal:
        return (
            self.realized_pnl_quote
            + self.funding_quote
            - self.fees_quote
            + self.unrealized_quote(mark_price)
        )


def apply_fill(position: Position, fill: Fill) -> Position:
    if fill.qty_base <= 0 or fill.price <= 0:
        reason = (
            DeadLetterReason.NON_POSITIVE_SIZE
            if fill.qty_base <= 0
            else DeadLetterReason.NON_POSITIVE_PRICE
        )
        raise InvalidEvent(
            reason, f"expected positive qty and price, got {fill.qty_base} @ {fill.price}"
        )
    delta = fill.qty_base if fill.side is Side.BUY else -fill.qty_base
    qty, avg = position.qty_base, position.avg_price
    fees = position.fees_quote + fill.fee_quote
    if qty == 0 or (qty > 0) == (delta > 0):
        new_qty = qty + delta
        new_avg = (qty * avg + delta * fill.price) / new_qty
        return replace(position, qty_base=new_qty, avg_price=new_avg, fees_quote=fees)
    closed = min(abs(delta), abs(qty))
    direction = 1 if qty > 0 else -1
    realized = position.realized_pnl_quote + direction * closed * (fill.price - avg)
    new_qty = qty + delta
    if new_qty == 0:
        new_avg = ZERO
    elif (new_qty > 0) == (qty > 0):
        new_avg = avg
    else:
        new_avg = fill.price
    return replace(
        position, qty_base=new_qty, avg_price=new_avg, realized_pnl_quote=realized, fees_quote=fees
    )


def funding_payment(
    position: Position, rate: Decimal, mark_price: Decimal, funding_time_ms: int
) -> FundingPaid:
    """The settlement a position owes or receives at ``funding_time_ms``."""
    return FundingPaid(
        instrument=position.instrument,
        amount_quote=-rate * position.qty_base * mark_price,
        rate=rate,
        mark_price=mark_price,
        qty_base=position.qty_base,
        funding_time_ms=funding_time_ms,
    )


def apply_funding(position: Position, paid: FundingPaid) -> Position:
    last = position.last_funding_time_ms
    if last is not None and paid.funding_time_ms <= last:
        return position
    return replace(
        position,
        funding_quote=position.funding_quote + paid.amount_quote,
        last_funding_time_ms=paid.funding_time_ms,
    )


PnlEvent = Fill | FundingPaid


@dataclass(frozen=True, slots=True)
class Ledger:
    """Positions per instrument; the mapping is replaced, never mutated."""

    positions: Mapping[InstrumentKey, Position] = field(default_factory=dict)

    def position(self, key: InstrumentKey) -> Position:
        return self.positions.get(key) or Position(key)

    def realized_quote(self) -> Decimal:
        return sum((p.realized_pnl_quote for p in self.positions.values()), ZERO)

    def funding_quote(self) -> Decimal:
        return sum((p.funding_quote for p in self.positions.values()), ZERO)

    def fees_quote(self) -> Decimal:
        return sum((p.fees_quote for p in self.positions.values()), ZERO)

    def unrealized_quote(self, marks: Mapping[InstrumentKey, Decimal]) -> Decimal:
        """Unrealized PnL; every open position needs a mark (missing marks are not flat)."""
        total = ZERO
        for key, p in sorted(self.positions.items()):
            if p.qty_base == 0:
                continue
            if key not in marks:
                raise InvalidEvent(
                    DeadLetterReason.MISSING_MARK_PRICE, f"no mark price for open position {key}"
                )
            total += p.unrealized_quote(marks[key])
        return total


def apply(ledger: Ledger, event: PnlEvent) -> Ledger:
    """Pure reducer over fills and funding settlements."""
    current = ledger.position(event.instrument)
    updated = (
        apply_fill(current, event) if isinstance(event, Fill) else apply_funding(current, event)
    )
    return Ledger({**ledger.positions, event.instrument: updated})
