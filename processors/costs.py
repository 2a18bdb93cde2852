"""Cost model of a multi-leg position, entry to exit.

Every component is a cost, never negative, in quote and in bps of the position notional:

- ``entry_fees`` / ``exit_fees``: fee rate of the chosen liquidity times the filled notional of
  each leg (exit filled at today's book on the opposite side). A negative fee rate (maker rebate)
  costs zero and its amount goes to ``rebate_quote``, which is reported but never netted.
- ``entry_slippage`` / ``exit_slippage``: depth walk of each leg beyond the touch for the size.
- ``spread_cost``: crossing the bid/ask to close, ``exit spread - entry spread`` at the touch
  = ``size * (ask - bid)`` summed over legs (half paid at entry, half at exit). Conservative for
  maker fills.
- ``borrow``: interest on the coins a short spot leg borrows, ``charges * rate per hour * size *
  mid`` with one charge per started hour of the horizon (:class:`processors.units.BorrowRate`);
  like funding it accrues with the holding time.
- ``funding_paid``: funding the paying legs owe over the horizon at each venue's own
  settlement times (the receiving legs' funding is the carry, in ``funding_received_quote``),
  ``rate * mark * size`` per settlement with the mark price of the funding record (venues settle
  on the mark, not on the book mid that fees and the notional use).

``quote.total`` (``one_off + borrow + funding_paid``) is what the gross edge (which holds the
funding received) is netted against. ``total_net_quote`` nets the funding received into the
costs instead; it is the wire record's total, the exact sum of the record's cost fields.

Funding over the horizon and break-even read one calendar: each venue's own settlements in the
closed horizon ``(start, start + horizon]`` (:func:`processors.funding.settlement_times`).

Break-even (carry trades only; ``None`` for a convergence trade, whose edge is the price spread
captured at an unknown time, not funding): the hours from ``start`` to the first settlement at
which the funding counted that way covers the one-off costs, so for a carry whose funding only
accrues (one funded leg, or every funded leg receiving) ``break-even <= H`` exactly when the
funding over a horizon ``H`` pays the one-off costs back. ``None`` when the steady net carry per
hour (``net_carry_per_hour_quote``, reported for comparison) is not positive. In intervals it is
rounded up in units of the longest funding interval among the legs (the slowest clock).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING
from decimal import Decimal

from processors.books import walk_book
from processors.funding import LegFundingCash
from processors.funding import break_even_ms
from processors.funding import expected_funding_cash
from processors.funding import funding_notional_quote
from processors.units import MS_PER_HOUR
from processors.units import ONE
from processors.units import ZERO
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import InstrumentState
from processors.units import Liquidity
from processors.units import bps_of
from processors.units import entry_side
from processors.units import exit_side
from processors.units import sign
from schemas.errors import FundingflowError
from schemas.records.common import MarketType
from schemas.records.common import PositionSide


class InsufficientDepth(FundingflowError):  # noqa: N818 - names the condition
    """A leg's book cannot fill the requested size."""


@dataclass(frozen=True, slots=True)
class CostLeg:
    state: InstrumentState
    side: PositionSide
    entry_liquidity: Liquidity = Liquidity.TAKER
    exit_liquidity: Liquidity = Liquidity.TAKER


@dataclass(frozen=True, slots=True)
class CostComponents:
    """One set of components, all in the same unit (quote or bps)."""

    entry_fees: Decimal
    exit_fees: Decimal
    entry_slippage: Decimal
    exit_slippage: Decimal
    spread_cost: Decimal
    funding_paid: Decimal
    borrow: Decimal = ZERO
    """Interest on borrowed coins of short spot legs over the horizon (accrues with time)."""

    @property
    def one_off(self) -> Decimal:
        """Costs paid once (fees, slippage, spread), independent of the holding time."""
        return (
            self.entry_fees
            + self.exit_fees
            + self.entry_slippage
            + self.exit_slippage
            + self.spread_cost
        )

    @property
    def total(self) -> Decimal:
        return self.one_off + self.borrow + self.funding_paid


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Derived: what entering, holding for ``horizon_ms`` and leaving would cost, in quote and in
    bps, with each leg's funding cash and the break-even. Its wire projection is the
    ``arb.CostBreakdown`` record (:func:`processors.records.cost_record`)."""

    size_base: Decimal
    notional_quote: Decimal
    """Mean of the legs' mid notionals; the reference of every bps figure."""
    horizon_ms: int
    quote: CostComponents
    bps: CostComponents
    rebate_quote: Decimal
    funding_received_quote: Decimal
    leg_funding: tuple[LegFundingCash | None, ...]
    net_carry_per_hour_quote: Decimal
    """Net funding per hour (received minus paid, rate-normalized); may be negative."""
    break_even_hours: Decimal | None
    """None when the net carry is not positive (never breaks even on funding), and for a
    convergence trade (``carry_trade=False``), whose break-even would need a convergence model."""
    break_even_intervals: int | None

    @property
    def net_funding_quote(self) -> Decimal:
        return self.funding_received_quote - self.quote.funding_paid

    @property
    def total_net_quote(self) -> Decimal:
        """Every cost with funding netted: ``one_off + borrow + funding_paid - funding_received``.

        Negative when the funding received exceeds the other costs. It is the total of the wire
        record (``arb.CostBreakdown.total_cost_quote``), whose funding field is net funding paid;
        ``net edge = convergence edge - total_net_quote`` (zero convergence for carry types).
        """
        return self.quote.one_off + self.quote.borrow - self.net_funding_quote


def _fee(rate: Decimal, notional: Decimal) -> tuple[Decimal, Decimal]:
    """(cost, rebate) of a fee rate on a notional."""
    amount = rate * notional
    return (amount, ZERO) if amount >= 0 else (ZERO, -amount)


def _break_even(
    one_off: Decimal,
    legs: Sequence[CostLeg],
    funding: Sequence[LegFundingCash | None],
    borrow_per_hour_quote: Decimal,
    start_ms: int,
) -> tuple[Decimal | None, int | None]:
    flows = [
        (leg.state.funding, cash.per_settlement_quote)
        for leg, cash in zip(legs, funding, strict=True)
        if leg.state.funding is not None and cash is not None
    ]
    if not flows:
        return None, None
    if borrow_per_hour_quote > 0:
        # the first hour's interest is due at the borrow, then one charge per hour: a flow on
        # an hourly calendar from ``start + 1 h``, priced like a funding leg that pays
        hourly = FundingSchedule(
            FundingRate(ONE, MS_PER_HOUR), start_ms + MS_PER_HOUR, mark_price=ONE
        )
        flows.append((hourly, -borrow_per_hour_quote))
        one_off += borrow_per_hour_quote
    at_ms = break_even_ms(flows, start_ms, one_off)
    if at_ms is None:
        return None, None
    hours = Decimal(at_ms - start_ms) / MS_PER_HOUR
    ref_hours = Decimal(max(s.rate.interval_ms for s, _ in flows)) / MS_PER_HOUR
    return hours, int((hours / ref_hours).to_integral_value(rounding=ROUND_CEILING))


def estimate_costs(
    legs: Sequence[CostLeg],
    size_base: Decimal,
    start_ms: int,
    horizon_ms: int,
    *,
    carry_trade: bool = True,
) -> CostEstimate:
    """Costs of holding ``size_base`` on every leg from ``start_ms`` for ``horizon_ms``.

    ``carry_trade=False`` (a convergence trade, whose edge is the price spread) leaves the
    break-even ``None``: funding is not what has to pay its costs back.
    Raises :class:`InsufficientDepth` when a book cannot fill the size on entry or exit.
    """
    if size_base <= 0:
        raise ValueError(f"expected a positive size, was {size_base}")
    if not legs:
        raise ValueError("expected at least one leg")
    entry_fees = exit_fees = entry_slip = exit_slip = spread = paid = received = ZERO
    borrow = borrow_per_hour = ZERO
    rebate = carry_per_hour = notional_sum = ZERO
    funding: list[LegFundingCash | None] = []
    for leg in legs:
        book = leg.state.book
        entry = walk_book(book, entry_side(leg.side), size_base=size_base)
        exit_ = walk_book(book, exit_side(leg.side), size_base=size_base)
        if not (entry.complete and exit_.complete):
            raise InsufficientDepth(f"{leg.state.key} cannot fill {size_base} on both sides")
        fees = leg.state.fees
        cost, back = _fee(fees.rate(leg.entry_liquidity), entry.filled_quote)
        entry_fees, rebate = entry_fees + cost, rebate + back
        cost, back = _fee(fees.rate(leg.exit_liquidity), exit_.filled_quote)
        exit_fees, rebate = exit_fees + cost, rebate + back
        entry_slip += entry.slippage_quote
        exit_slip += exit_.slippage_quote
        spread += size_base * (book.best_ask - book.best_bid)
        leg_notional = size_base * book.mid
        notional_sum += leg_notional
        if leg.state.kind is MarketType.SPOT and leg.side is PositionSide.SHORT:
            rate = leg.state.borrow
            if rate is None:
                raise ValueError(f"{leg.state.key}: a short spot leg needs the venue's borrow rate")
            borrow += rate.cost_quote(size_base, book.mid, horizon_ms)
            borrow_per_hour += rate.per_hour() * leg_notional
        schedule = leg.state.funding
        if schedule is None:
            funding.append(None)
            continue
        cash = expected_funding_cash(schedule, leg.side, size_base, start_ms, horizon_ms)
        funding.append(cash)
        paid += cash.paid_quote
        received += cash.received_quote
        funded_notional = funding_notional_quote(schedule, size_base)
        carry_per_hour -= sign(leg.side) * schedule.rate.per_hour() * funded_notional
    notional = notional_sum / len(legs)
    figures = (entry_fees, exit_fees, entry_slip, exit_slip, spread, paid, borrow)
    quote = CostComponents(*figures)
    as_bps = CostComponents(*(bps_of(v, notional) for v in figures))
    carry_per_hour -= borrow_per_hour
    hours, intervals = (
        _break_even(quote.one_off, legs, funding, borrow_per_hour, start_ms)
        if carry_trade
        else (None, None)
    )
    return CostEstimate(
        size_base=size_base,
        notional_quote=notional,
        horizon_ms=horizon_ms,
        quote=quote,
        bps=as_bps,
        rebate_quote=rebate,
        funding_received_quote=received,
        leg_funding=tuple(funding),
        net_carry_per_hour_quote=carry_per_hour,
        break_even_hours=hours,
        break_even_intervals=intervals,
    )
