"""Funding settlements: what the venue paid against what the held position should have got.

Pure. The venue's funding history gives each settlement as paid (``portfolio.funding``
``FundingPaid``: amount, rate in force, mark and interval). What it should have been is
:func:`processors.portfolio.expected_funding` of the position the executor held at the
settlement time, from its own fills. A fill is stamped with the executor's clock and a
settlement with the venue's (a paper world runs faster than the wall), so the executor notes
both clocks side by side each time it reads the history (:class:`ClockMark`) and a fill's venue
time is interpolated between the marks around it (:func:`venue_time`).

:func:`check` compares the two; a difference beyond :class:`FundingTolerance` is a mismatch
(an ``ops.incident``, not a halt: funding is a cash flow, not a position).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from processors.portfolio import Holding
from processors.portfolio import Key
from processors.portfolio import expected_funding
from processors.portfolio import key_of
from processors.units import BPS
from processors.units import ZERO
from schemas.records.common import Side
from schemas.records.execution import Fill
from schemas.records.portfolio import FundingPaid


@dataclass(frozen=True, slots=True, order=True)
class ClockMark:
    """The executor's clock and one venue's, read together."""

    local_ms: int
    venue_ms: int


def venue_time(local_ms: int, marks: Sequence[ClockMark]) -> int:
    """The venue's time at the executor's ``local_ms``: interpolated between the marks around
    it; before the first or after the last mark, that mark's offset (the clocks' rate taken
    as equal). Without marks the clocks are taken as one."""
    if not marks:
        return local_ms
    ordered = sorted(marks)
    first, last = ordered[0], ordered[-1]
    if local_ms <= first.local_ms:
        return first.venue_ms - (first.local_ms - local_ms)
    if local_ms >= last.local_ms:
        return last.venue_ms + (local_ms - last.local_ms)
    for before, after in pairwise(ordered):
        if before.local_ms <= local_ms <= after.local_ms:
            span = after.local_ms - before.local_ms
            if span == 0:
                return after.venue_ms
            moved = (after.venue_ms - before.venue_ms) * (local_ms - before.local_ms) // span
            return before.venue_ms + moved
    return last.venue_ms  # unreachable: the marks bracket local_ms


def held_at(
    fills: Iterable[Fill], key: Key, at_venue_ms: int, marks: Sequence[ClockMark]
) -> Decimal:
    """The net base size (long +) of ``key`` after every fill whose venue time is at or
    before ``at_venue_ms``."""
    size = ZERO
    for fill in fills:
        if key_of(fill.instrument) != key:
            continue
        if venue_time(fill.envelope.event_time_ms, marks) <= at_venue_ms:
            size += fill.size_base if fill.side is Side.BUY else -fill.size_base
    return size


def expected_of(paid: FundingPaid, held_base: Decimal) -> FundingPaid:
    """The settlement ``held_base`` should have got at the venue's rate and mark."""
    return expected_funding(
        Holding(paid.instrument, net_size_base=held_base),
        paid.funding_rate,
        paid.funding_interval_ms,
        paid.mark_price,
        paid.funding_time_ms,
        paid.quote_currency,
    )


@dataclass(frozen=True, slots=True)
class FundingTolerance:
    """How far paid may be from expected: ``quote`` absolute, or ``bps`` of the expected
    amount, whichever is larger."""

    quote: Decimal = Decimal("0.01")
    bps: Decimal = Decimal(10)

    def allows(self, expected: Decimal, difference: Decimal) -> bool:
        return abs(difference) <= max(self.quote, abs(expected) * self.bps / BPS)


@dataclass(frozen=True, slots=True)
class FundingCheck:
    """One settlement: as paid, as expected, and whether they agree within tolerance."""

    paid: FundingPaid
    expected: FundingPaid
    within_tolerance: bool

    @property
    def difference_quote(self) -> Decimal:
        """Paid minus expected (positive: the venue paid more than expected)."""
        return self.paid.amount_quote - self.expected.amount_quote

    def describe(self) -> str:
        p, e = self.paid, self.expected
        return (
            f"{p.instrument.exchange} {p.instrument.symbol} at {p.funding_time_ms}: paid"
            f" {p.amount_quote} {p.quote_currency}, expected {e.amount_quote} (held"
            f" {e.net_size_base} base, rate {p.funding_rate}, mark {p.mark_price}; the payment"
            f" implies {p.net_size_base})"
        )


def check(paid: FundingPaid, held_base: Decimal, tolerance: FundingTolerance) -> FundingCheck:
    """Compare what the venue paid with what ``held_base`` should have got."""
    expected = expected_of(paid, held_base)
    difference = paid.amount_quote - expected.amount_quote
    return FundingCheck(paid, expected, tolerance.allows(expected.amount_quote, difference))
