"""Mappings between wire records (``schemas.records``) and the processors' domain types.

Pure and field by field, in both directions:

- market data in: :func:`instrument_key`, :func:`market_kind`, :func:`book_of`,
  :func:`funding_of`, :func:`instrument_state`;
- lifecycle out: :func:`opportunity_record` (costs by :func:`cost_record`), :func:`spread_records`.

The risk check (:mod:`processors.risk`) needs no mapping: it reads the ``arb.opportunity`` and
``ops.control`` records and writes ``risk.RiskReason`` records itself.

Event ids of derived records are ``uuid5`` over their causes, so a replay writes the same ids.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from decimal import Context
from decimal import Decimal
from decimal import localcontext

from processors.costs import CostEstimate
from processors.detection import Candidate
from processors.detection import MarketView
from processors.detection import id_name
from processors.lots import Lot
from processors.opportunities import OpportunityEvent
from processors.opportunities import TrackedOpportunity
from processors.spreads import funding_differential
from processors.spreads import price_spread_bps
from processors.units import BPS
from processors.units import MS_PER_HOUR
from processors.units import TRADED_TYPES
from processors.units import ZERO
from processors.units import Book
from processors.units import BookLevel
from processors.units import BorrowRate
from processors.units import FeeSchedule
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import InstrumentKey
from processors.units import InstrumentState
from schemas.fixed_point import ask_values
from schemas.fixed_point import bid_values
from schemas.records import arb
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.common import Side
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.scalars import fit_decimal

_SUM_PRECISION = 40
"""Digits to add decimal(38, 18) fields without rounding (20 integer digits, a carry, 18 places)."""

DERIVED_NAMESPACE = uuid.UUID("3b0f6a52-5f7e-5d1c-8e8a-6d2f0c4b9a17")


def derived_id(*parts: object) -> str:
    """A deterministic event id from the ids and times that caused the event."""
    return str(uuid.uuid5(DERIVED_NAMESPACE, "|".join(str(p) for p in parts)))


# ---- market data in ---------------------------------------------------------------------------


def instrument_key(ref: InstrumentRef) -> InstrumentKey:
    return InstrumentKey(ref.exchange, ref.symbol)


def traded_type(ref: InstrumentRef) -> MarketType | None:
    """SPOT or PERP; None for market types the detector does not trade."""
    kind = ref.market_type
    return kind if kind in TRADED_TYPES else None


def book_of(record: BookSnapshot) -> Book:
    return Book(
        bids=tuple(BookLevel(price, size) for price, size in bid_values(record)),
        asks=tuple(BookLevel(price, size) for price, size in ask_values(record)),
        ts_ms=record.envelope.event_time_ms,
        seq=record.envelope.source_seq,
    )


def funding_of(record: FundingRateUpdate) -> FundingSchedule:
    return FundingSchedule(
        FundingRate(record.funding_rate, record.funding_interval_ms),
        record.next_funding_time_ms,
        record.mark_price,
    )


def lot_of(facts: InstrumentFacts) -> Lot:
    """The order amounts the venue accepts, from its instrument facts."""
    return Lot(
        facts.contract_size_base,
        amount_step=facts.amount_step,
        min_amount=facts.min_amount,
        min_notional_quote=facts.min_notional_quote,
    )


def borrow_of(facts: InstrumentFacts) -> BorrowRate | None:
    """The interest to borrow the instrument's base asset, when its facts state it."""
    if facts.borrow_rate is None or facts.borrow_period_ms is None:
        return None
    return BorrowRate(facts.borrow_rate, facts.borrow_period_ms)


def instrument_state(
    book: BookSnapshot,
    funding: FundingRateUpdate | None,
    fees: FeeSchedule,
    lot: Lot | None = None,
    borrow: BorrowRate | None = None,
) -> InstrumentState | None:
    """The detector's view of one instrument; None for an unsupported market type."""
    kind = traded_type(book.instrument)
    if kind is None:
        return None
    schedule = funding_of(funding) if funding is not None and kind is MarketType.PERP else None
    spot_borrow = borrow if kind is MarketType.SPOT else None
    return InstrumentState(
        instrument_key(book.instrument), kind, book_of(book), fees, schedule, lot, spot_borrow
    )


# ---- lifecycle out ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _ref(key: InstrumentKey, kind: MarketType) -> InstrumentRef:
    """The wire reference of an instrument; records are frozen, so every leg of an instrument
    can share one (built and validated once per instrument, not per leg of every record)."""
    return InstrumentRef(exchange=key.exchange, symbol=key.symbol, market_type=kind)


def _legs(opp: TrackedOpportunity, view: MarketView) -> tuple[arb.OpportunityLeg, ...]:
    ev = opp.evaluation
    legs = []
    pairs = ((opp.candidate.long, Side.BUY, 0), (opp.candidate.short, Side.SELL, 1))
    for key, side, i in pairs:
        state = view.get(key)
        rate = state.funding.rate if state is not None and state.funding else None
        fee_bps = state.fees.taker * BPS if state is not None else ZERO
        legs.append(
            arb.OpportunityLeg(
                instrument=_ref(key, ev.kinds[i]),
                side=side,
                entry_price=ev.mids[i],
                fee_rate_bps=fee_bps,
                funding_rate=rate.rate if rate is not None else None,
                funding_interval_ms=rate.interval_ms if rate is not None else None,
                quote_time_ms=ev.quote_ts_ms[i],
            )
        )
    return tuple(legs)


def cost_record(costs: CostEstimate) -> arb.CostBreakdown:
    """The wire cost breakdown; its total is exactly the sum of its (rounded) fields.

    Funding is net funding paid (negative = received), so the total is
    :attr:`CostEstimate.total_net_quote`. The fields are rounded to the schema's scale first and
    summed after, so a reader adding them up gets the total to the last digit.
    """
    q = costs.quote
    parts = tuple(
        fit_decimal(v)
        for v in (
            q.entry_fees,
            q.exit_fees,
            q.entry_slippage + q.exit_slippage,
            -costs.net_funding_quote,
            q.spread_cost,
            q.borrow,
        )
    )
    with localcontext(Context(prec=_SUM_PRECISION)):
        total = sum(parts, ZERO)
    entry, exit_, slippage, funding, spread, borrow = parts
    return arb.CostBreakdown(
        entry_fees_quote=entry,
        exit_fees_quote=exit_,
        slippage_quote=slippage,
        funding_over_horizon_quote=funding,
        spread_cost_to_close_quote=spread,
        borrow_quote=borrow,
        total_cost_quote=total,
    )


def opportunity_record(
    event: OpportunityEvent, view: MarketView, base_asset: str, causation_id: str | None
) -> arb.Opportunity:
    """The ``arb.opportunity`` record of one lifecycle event."""
    opp = event.opportunity
    ev = opp.evaluation
    notional = ev.costs.notional_quote
    urgency = ev.urgency_ms if ev.urgency_ms is not None else 0
    return arb.Opportunity(
        envelope=Envelope(
            event_id=derived_id(opp.id, event.kind, event.at_ms),
            event_time_ms=event.at_ms,
            ingest_time_ms=event.at_ms,
            correlation_id=opp.id,
            causation_id=causation_id,
        ),
        opportunity_id=opp.id,
        lifecycle=event.kind,
        kind=opp.candidate.type,
        base_asset=base_asset,
        legs=_legs(opp, view),
        gross_edge_bps=ev.gross_edge_bps,
        net_edge_bps=ev.net_edge_bps,
        net_apr_bps=ev.net_edge_apr * BPS,
        horizon_ms=ev.costs.horizon_ms,
        costs=cost_record(ev.costs),
        max_size_base=ev.size_base,
        max_notional_quote=notional,
        risk_score=ev.risk_score,
        time_to_next_funding_ms=max(urgency, 0),
        close_reason=event.reason,
    )


def spread_records(
    candidates: Iterable[Candidate], view: MarketView, at_ms: int, causation_id: str | None
) -> list[arb.SpreadUpdate]:
    """One ``arb.spread`` record per candidate, at the touch (ask to buy, bid to sell)."""
    out = []
    for c in candidates:
        long, short = view[c.long], view[c.short]
        buy, sell = long.book.best_ask, short.book.best_bid
        rl = long.funding.rate if long.funding else None
        rs = short.funding.rate if short.funding else None
        apr_bps: Decimal | None = None
        if rl is not None or rs is not None:
            flat = FundingRate(ZERO, MS_PER_HOUR)
            apr_bps = funding_differential(rl or flat, rs or flat).apr_bps
        out.append(
            arb.SpreadUpdate(
                envelope=Envelope(
                    event_id=derived_id(
                        "spread", id_name(c.type), c.long, c.short, at_ms, causation_id
                    ),
                    event_time_ms=at_ms,
                    ingest_time_ms=at_ms,
                    causation_id=causation_id,
                ),
                kind=c.type,
                base_asset=c.long.base,
                long_leg=arb.SpreadLeg(
                    instrument=_ref(c.long, long.kind),
                    price=buy,
                    funding_rate=rl.rate if rl else None,
                    funding_interval_ms=rl.interval_ms if rl else None,
                ),
                short_leg=arb.SpreadLeg(
                    instrument=_ref(c.short, short.kind),
                    price=sell,
                    funding_rate=rs.rate if rs else None,
                    funding_interval_ms=rs.interval_ms if rs else None,
                ),
                price_spread_bps=price_spread_bps(sell, buy),
                funding_spread_apr_bps=apr_bps,
            )
        )
    return out
