"""Paper fills: an order taken against a recorded book, level by level, with the venue's fee.

The backtest's fill model (pure): a :class:`~schemas.records.execution.SubmitOrder` (as the pair
reducer makes it, maybe with a protective limit) is filled at once against the book in force
(``md.book`` as recorded), walking the opposite side best level first
(:func:`processors.books.walk_levels`, the cost model's own depth walk) and stopping at the
limit. The filled size is rounded down to the instrument's lot (base units), so the
venue could have filled it; the rest is cancelled (IOC). Nothing is taken from the book: the
next order sees the same recorded levels (the recorded market does not react to our orders).

- **Notional**: the quote of the levels taken, moved against the order by
  ``extra_slippage_bps`` of itself (latency or impact beyond the recorded book); the fill price
  is ``notional / filled base`` (to 18 places).
- **Fee**: ``fee_rate * notional`` in the quote (settle) currency, taker (the order takes
  liquidity).
- **Slippage**: what the fill cost against the touch: the depth walk's
  (:attr:`processors.books.BookWalk.slippage_quote`, buying above the best ask or selling below
  the best bid) plus the extra bps. It is already in the fill price; it is reported apart,
  never charged twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal

from processors.books import walk_levels
from processors.pairs import OrderSettled
from processors.records import book_of
from processors.records import derived_id
from processors.units import BookLevel
from schemas.records.common import Envelope
from schemas.records.common import Money
from schemas.records.common import Side
from schemas.records.execution import Fill
from schemas.records.execution import LiquidityRole
from schemas.records.execution import OrderStatus
from schemas.records.execution import SubmitOrder
from schemas.records.md import BookSnapshot
from schemas.scalars import QUANTUM

ZERO = Decimal(0)
BPS = Decimal(10_000)


@dataclass(frozen=True, slots=True)
class PaperFill:
    """One order's outcome against a book: the fill (None when nothing filled), the settled
    event for the pair reducer and the slippage against the touch (quote, >= 0)."""

    fill: Fill | None
    settled: OrderSettled
    slippage_quote: Decimal


def _crossing(levels: tuple[BookLevel, ...], side: Side, limit: Decimal | None) -> list[BookLevel]:
    if limit is None:
        return list(levels)
    out: list[BookLevel] = []
    for level in levels:
        if (level.price > limit) if side is Side.BUY else (level.price < limit):
            break
        out.append(level)
    return out


def _down(size: Decimal, lot: Decimal) -> Decimal:
    return size if lot <= 0 else (size // lot) * lot


def fill_order(
    order: SubmitOrder,
    book: BookSnapshot | None,
    *,
    fee_rate: Decimal,
    lot_base: Decimal,
    at_ms: int,
    quote_currency: str,
    extra_slippage_bps: Decimal = ZERO,
) -> PaperFill:
    """Fill ``order`` against ``book`` at ``at_ms`` (IOC: what does not fill is cancelled).

    No book (nothing recorded yet for the instrument) fills nothing."""
    side = order.side
    filled = ZERO
    average: Decimal | None = None
    slippage = ZERO
    fill: Fill | None = None
    if book is not None:
        levels = book_of(book).levels(side)
        usable = _crossing(levels, side, order.limit_price)
        if usable and order.size_base > 0:
            walk = walk_levels(usable, side, size_base=order.size_base)
            size = _down(walk.filled_base, lot_base)
            if size > 0:
                if size != walk.filled_base:
                    walk = walk_levels(usable, side, size_base=size)
                extra = walk.filled_quote * extra_slippage_bps / BPS
                notional = (
                    walk.filled_quote + extra if side is Side.BUY else walk.filled_quote - extra
                )
                price = (notional / size).quantize(QUANTUM, ROUND_HALF_EVEN)
                slippage = (walk.slippage_quote + extra).quantize(QUANTUM, ROUND_HALF_EVEN)
                filled, average = size, price
                fill = Fill(
                    envelope=Envelope(
                        event_id=derived_id("paper-fill", order.client_order_id),
                        event_time_ms=at_ms,
                        ingest_time_ms=at_ms,
                        correlation_id=order.signal_id,
                        causation_id=order.envelope.event_id,
                    ),
                    fill_id=derived_id("paper-fill-id", order.client_order_id),
                    client_order_id=order.client_order_id,
                    instrument=order.instrument,
                    side=side,
                    price=price,
                    size_base=size,
                    fee=Money(
                        amount=(fee_rate * notional).quantize(QUANTUM, ROUND_HALF_EVEN),
                        currency=quote_currency,
                    ),
                    liquidity=LiquidityRole.TAKER,
                )
    status = OrderStatus.FILLED if filled >= order.size_base else OrderStatus.CANCELED
    settled = OrderSettled(
        client_order_id=order.client_order_id,
        leg_index=order.leg_index,
        purpose=order.purpose,
        status=status,
        filled_base=filled,
        average_price=average,
        at_ms=at_ms,
    )
    return PaperFill(fill, settled, slippage)
