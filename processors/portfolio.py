"""Portfolio accounting: a pure reducer over ``exec.fill`` and ``portfolio.funding`` records.

Average-cost method in quote currency, per (exchange, symbol):

- ``net_size_base`` is signed (long +). A fill in the position's direction moves the average
  entry price; against it, it realizes ``(price - average) * closed`` (sign-adjusted) and, past
  flat, opens the rest at the fill price.
- Fees are costs (a negative fee is a rebate), summed per holding.
- Funding is what the venue booked (``FundingPaid.amount_quote``, positive received), once per
  settlement time; :func:`expected_funding` states what a settlement should be
  (``-rate * net size * mark``: a positive rate makes longs pay).
- Slippage is measured against the prices the opportunity expected (the pair's legs'
  ``expected_price``): buying above or selling below it is a positive cost.

A snapshot splits the PnL into fields that add up::

    total = realized + unrealized + funding - fees
          = price + funding - fees - slippage        (price = realized + unrealized + slippage)

:func:`apply` returns the ``portfolio.position`` record of each change; :func:`snapshot` the
``portfolio.pnl`` record of a scope (the whole portfolio or one pair).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from decimal import ROUND_HALF_EVEN
from decimal import Decimal

from processors.records import derived_id
from schemas.errors import InvalidEvent
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import Side
from schemas.records.dlq import DeadLetterReason
from schemas.records.execution import Fill
from schemas.records.portfolio import FundingPaid
from schemas.records.portfolio import PnlSnapshot
from schemas.records.portfolio import PositionChanged
from schemas.scalars import QUANTUM

ZERO = Decimal(0)
Key = tuple[str, str]
"""(exchange, symbol) of an instrument."""


def key_of(instrument: InstrumentRef) -> Key:
    return (instrument.exchange, instrument.symbol)


@dataclass(frozen=True, slots=True)
class Holding:
    """One instrument's position as its fills and funding settlements made it (derived)."""

    instrument: InstrumentRef
    net_size_base: Decimal = ZERO
    average_entry_price: Decimal = ZERO
    realized_pnl_quote: Decimal = ZERO
    fees_quote: Decimal = ZERO
    funding_quote: Decimal = ZERO
    settled_until_ms: int | None = None
    """Time of the last funding settlement booked (a replayed one is ignored)."""

    def unrealized_quote(self, mark_price: Decimal) -> Decimal:
        return self.net_size_base * (mark_price - self.average_entry_price)


Holdings = Mapping[Key, Holding]


def _q(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM, ROUND_HALF_EVEN)


def apply_fill(holding: Holding, fill: Fill) -> Holding:
    if fill.size_base <= 0 or fill.price <= 0:
        reason = (
            DeadLetterReason.NON_POSITIVE_SIZE
            if fill.size_base <= 0
            else DeadLetterReason.NON_POSITIVE_PRICE
        )
        raise InvalidEvent(
            reason, f"fill {fill.fill_id}: size and price must be positive, were "
            f"{fill.size_base} @ {fill.price}",
        )  # fmt: skip
    delta = fill.size_base if fill.side is Side.BUY else -fill.size_base
    size, average = holding.net_size_base, holding.average_entry_price
    fees = holding.fees_quote + fill.fee.amount
    if size == 0 or (size > 0) == (delta > 0):
        new_size = size + delta
        new_average = _q((size * average + delta * fill.price) / new_size)
        return replace(
            holding, net_size_base=new_size, average_entry_price=new_average, fees_quote=fees
        )
    closed = min(abs(delta), abs(size))
    direction = 1 if size > 0 else -1
    realized = holding.realized_pnl_quote + _q(direction * closed * (fill.price - average))
    new_size = size + delta
    if new_size == 0:
        new_average = ZERO
    elif (new_size > 0) == (size > 0):
        new_average = average
    else:
        new_average = fill.price
    return replace(
        holding,
        net_size_base=new_size,
        average_entry_price=new_average,
        realized_pnl_quote=realized,
        fees_quote=fees,
    )


def apply_funding(holding: Holding, paid: FundingPaid) -> Holding:
    last = holding.settled_until_ms
    if last is not None and paid.funding_time_ms <= last:
        return holding
    return replace(
        holding,
        funding_quote=holding.funding_quote + paid.amount_quote,
        settled_until_ms=paid.funding_time_ms,
    )


def apply(
    holdings: Holdings, event: Fill | FundingPaid
) -> tuple[dict[Key, Holding], tuple[PositionChanged, ...]]:
    """The holdings after ``event`` and the position record of the change (fills only)."""
    key = key_of(event.instrument)
    current = holdings.get(key) or Holding(event.instrument)
    if isinstance(event, Fill):
        updated = apply_fill(current, event)
        change = PositionChanged(
            envelope=Envelope(
                event_id=derived_id("position", event.fill_id),
                event_time_ms=event.envelope.event_time_ms,
                ingest_time_ms=event.envelope.event_time_ms,
                causation_id=event.envelope.event_id,
            ),
            instrument=event.instrument,
            net_size_base=updated.net_size_base,
            average_entry_price=updated.average_entry_price if updated.net_size_base else None,
            realized_pnl_quote=updated.realized_pnl_quote,
            fill_id=event.fill_id,
        )
        return {**holdings, key: updated}, (change,)
    return {**holdings, key: apply_funding(current, event)}, ()


def fold(
    events: Iterable[Fill | FundingPaid], holdings: Holdings | None = None
) -> dict[Key, Holding]:
    """The holdings after every event, in order."""
    state: dict[Key, Holding] = dict(holdings or {})
    for event in events:
        state, _ = apply(state, event)
    return state


def funding_event_id(instrument: InstrumentRef, funding_time_ms: int) -> str:
    """The event id of one settlement: the venue, the instrument and the funding time (a
    settlement fetched again, or expected and then paid, is the same event)."""
    return derived_id("funding", *key_of(instrument), funding_time_ms)


def expected_funding(
    holding: Holding,
    rate: Decimal,
    interval_ms: int,
    mark_price: Decimal,
    funding_time_ms: int,
    quote_currency: str,
) -> FundingPaid:
    """The settlement ``holding`` should get at ``funding_time_ms`` (positive: received)."""
    return FundingPaid(
        envelope=Envelope(
            event_id=funding_event_id(holding.instrument, funding_time_ms),
            event_time_ms=funding_time_ms,
            ingest_time_ms=funding_time_ms,
        ),
        instrument=holding.instrument,
        funding_rate=rate,
        funding_interval_ms=interval_ms,
        funding_time_ms=funding_time_ms,
        net_size_base=holding.net_size_base,
        mark_price=mark_price,
        amount_quote=_q(-rate * holding.net_size_base * mark_price),
        quote_currency=quote_currency,
    )


def slippage_of(fill: Fill, expected_price: Decimal) -> Decimal:
    """What filling at ``fill.price`` instead of ``expected_price`` cost (positive: worse)."""
    per_base = fill.price - expected_price if fill.side is Side.BUY else expected_price - fill.price
    return _q(per_base * fill.size_base)


def snapshot(
    holdings: Holdings,
    marks: Mapping[Key, Decimal],
    *,
    scope: str,
    at_ms: int,
    quote_currency: str,
    slippage_quote: Decimal = ZERO,
) -> PnlSnapshot:
    """The PnL of ``holdings`` at ``marks``; every open holding needs a mark."""
    realized = unrealized = funding = fees = gross = net = ZERO
    for key, h in sorted(holdings.items()):
        realized += h.realized_pnl_quote
        funding += h.funding_quote
        fees += h.fees_quote
        if h.net_size_base == 0:
            continue
        if key not in marks:
            raise InvalidEvent(DeadLetterReason.MISSING_MARK_PRICE, f"no mark price for {key}")
        unrealized += _q(h.unrealized_quote(marks[key]))
        notional = _q(h.net_size_base * marks[key])
        gross += abs(notional)
        net += notional
    return PnlSnapshot(
        envelope=Envelope(
            event_id=derived_id("pnl", scope, at_ms),
            event_time_ms=at_ms,
            ingest_time_ms=at_ms,
        ),
        scope=scope,
        quote_currency=quote_currency,
        realized_pnl_quote=realized,
        unrealized_pnl_quote=unrealized,
        funding_pnl_quote=funding,
        fees_quote=fees,
        total_pnl_quote=realized + unrealized + funding - fees,
        gross_exposure_quote=gross,
        net_exposure_quote=net,
        price_pnl_quote=realized + unrealized + slippage_quote,
        slippage_quote=slippage_quote,
    )
