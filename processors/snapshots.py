"""Reducer state <-> ``fundingflow.state`` records, field by field and exact both ways.

The streams' reducers persist their state in the worker's tables as Avro records with registered
schemas (``state.asset``, ``state.risk``), never as pickles. This module converts the
processors' part of that state:

- the market reducer's lifecycle of one asset (:class:`OpportunityBook` and the last evaluation
  time) to and from :class:`~schemas.records.state.AssetLifecycle`;
- the risk check's :class:`ControlState` to and from :class:`~schemas.records.state.RiskControl`,
  and the exposure of one approved opportunity to and from
  :class:`~schemas.records.state.OpenExposure`.

``of(record(x)) == x`` holds for every value whose decimals fit decimal(38, 18), which is every
value the reducers keep (they fit what they store: :func:`processors.units.persistable`). A
record written by a newer schema with a symbol this code does not know (read as ``UNKNOWN``) is
refused with :class:`InvalidEvent` rather than guessed.
"""

from __future__ import annotations

from decimal import Decimal

from processors.costs import CostComponents
from processors.costs import CostEstimate
from processors.detection import Candidate
from processors.detection import Evaluation
from processors.funding import LegFundingCash
from processors.opportunities import OpportunityBook
from processors.opportunities import TrackedOpportunity
from processors.risk import ControlState
from processors.sizing import Limits
from processors.spreads import FundingDifferential
from processors.units import InstrumentKey
from schemas.errors import InvalidEvent
from schemas.records import state as wire
from schemas.records.arb import SpreadKind
from schemas.records.common import MarketType
from schemas.records.dlq import DeadLetterReason
from schemas.scalars import wire_decimal

ExposureLegs = tuple[tuple[InstrumentKey, Decimal, Decimal], ...]
"""Per leg of an approved opportunity: (instrument, notional quote, margin quote)."""

_UNKNOWN = "UNKNOWN"

_CANDIDATE_TYPES = {
    SpreadKind.SPOT_PERP: wire.CandidateType.SPOT_PERP,
    SpreadKind.PERP_PERP: wire.CandidateType.PERP_PERP,
    SpreadKind.CROSS_EXCHANGE_PRICE: wire.CandidateType.CROSS_EXCHANGE,
}
"""The persisted name of each kind (one to one; the state schema's enum predates the detector
speaking ``arb.SpreadKind``, and renaming a symbol would break reading stored state)."""
_KINDS_OF = {persisted: kind for kind, persisted in _CANDIDATE_TYPES.items()}


def _known(symbol: str, what: str) -> str:
    if symbol == _UNKNOWN:
        raise InvalidEvent(
            DeadLetterReason.WRONG_SCHEMA, f"{what} written by a newer schema: {symbol}"
        )
    return symbol


# ---- market: the lifecycle of one asset -------------------------------------------------------


def lifecycle_record(book: OpportunityBook, last_eval_ms: int | None) -> wire.AssetLifecycle:
    """The persisted lifecycle of one asset: its open opportunities and last evaluation."""
    return wire.AssetLifecycle(
        open=tuple(_opportunity_record(opp) for opp in book.open), last_eval_ms=last_eval_ms
    )


def lifecycle_of(record: wire.AssetLifecycle) -> tuple[OpportunityBook, int | None]:
    """(open opportunities, last evaluation time) of a persisted lifecycle."""
    return OpportunityBook(tuple(_opportunity_of(o) for o in record.open)), record.last_eval_ms


def _opportunity_record(opp: TrackedOpportunity) -> wire.OpenOpportunity:
    ev = opp.evaluation
    if len(ev.costs.leg_funding) != 2:
        detail = f"{opp.id}: expected funding of two legs, was {len(ev.costs.leg_funding)}"
        raise ValueError(detail)
    keys = (opp.candidate.long, opp.candidate.short)
    long, short = (
        wire.OpenLeg(
            exchange=keys[i].exchange,
            symbol=keys[i].symbol,
            kind=wire.LegKind(ev.kinds[i].value),
            quote_ts_ms=ev.quote_ts_ms[i],
            mid_price=ev.mids[i],
            funding=_leg_funding_record(ev.costs.leg_funding[i]),
        )
        for i in (0, 1)
    )
    return wire.OpenOpportunity(
        opportunity_id=opp.id,
        candidate_type=_CANDIDATE_TYPES[opp.candidate.type],
        long_leg=long,
        short_leg=short,
        opened_at_ms=opp.opened_at_ms,
        updated_at_ms=opp.updated_at_ms,
        carry_sign_at_open=opp.carry_sign_at_open,
        evaluation=_evaluation_record(ev),
    )


def _leg_funding_record(cash: LegFundingCash | None) -> wire.EvaluationLegFunding | None:
    if cash is None:
        return None
    return wire.EvaluationLegFunding(
        settlements=cash.settlements, per_settlement_quote=cash.per_settlement_quote
    )


_NO_BORROW = wire_decimal(Decimal(0))
"""Borrow of a state stored before the field existed (no short spot leg then), as kept."""


def _figures_record(c: CostComponents) -> wire.EvaluationCostFigures:
    return wire.EvaluationCostFigures(
        entry_fees=c.entry_fees,
        exit_fees=c.exit_fees,
        entry_slippage=c.entry_slippage,
        exit_slippage=c.exit_slippage,
        spread_cost=c.spread_cost,
        funding_paid=c.funding_paid,
        borrow=c.borrow,
    )


def _evaluation_record(ev: Evaluation) -> wire.OpportunityEvaluation:
    costs = ev.costs
    funding = ev.funding
    return wire.OpportunityEvaluation(
        size_base=ev.size_base,
        depth_size_base=ev.depth_size_base,
        costs=wire.EvaluationCosts(
            size_base=costs.size_base,
            notional_quote=costs.notional_quote,
            horizon_ms=costs.horizon_ms,
            quote=_figures_record(costs.quote),
            bps=_figures_record(costs.bps),
            rebate_quote=costs.rebate_quote,
            funding_received_quote=costs.funding_received_quote,
            net_carry_per_hour_quote=costs.net_carry_per_hour_quote,
            break_even_hours=costs.break_even_hours,
            break_even_intervals=costs.break_even_intervals,
        ),
        gross_edge_quote=ev.gross_edge_quote,
        gross_edge_bps=ev.gross_edge_bps,
        gross_edge_apr=ev.gross_edge_apr,
        net_edge_quote=ev.net_edge_quote,
        net_edge_bps=ev.net_edge_bps,
        net_edge_apr=ev.net_edge_apr,
        mid_spread_bps=ev.mid_spread_bps,
        funding=None
        if funding is None
        else wire.EvaluationFunding(
            per_hour=funding.per_hour, per_8h=funding.per_8h, apr_simple=funding.apr_simple
        ),
        risk_score=ev.risk_score,
        urgency_ms=ev.urgency_ms,
    )


def _kind_of(leg: wire.OpenLeg) -> MarketType:
    return MarketType(_known(leg.kind.value, f"leg kind of {leg.exchange}:{leg.symbol}"))


def _leg_funding_of(record: wire.EvaluationLegFunding | None) -> LegFundingCash | None:
    if record is None:
        return None
    return LegFundingCash(
        settlements=record.settlements, per_settlement_quote=record.per_settlement_quote
    )


def _figures_of(r: wire.EvaluationCostFigures) -> CostComponents:
    return CostComponents(
        entry_fees=r.entry_fees,
        exit_fees=r.exit_fees,
        entry_slippage=r.entry_slippage,
        exit_slippage=r.exit_slippage,
        spread_cost=r.spread_cost,
        funding_paid=r.funding_paid,
        borrow=_NO_BORROW if r.borrow is None else r.borrow,
    )


def _opportunity_of(record: wire.OpenOpportunity) -> TrackedOpportunity:
    long, short = record.long_leg, record.short_leg
    _known(record.candidate_type.value, f"type of opportunity {record.opportunity_id}")
    candidate = Candidate(
        _KINDS_OF[record.candidate_type],
        InstrumentKey(long.exchange, long.symbol),
        InstrumentKey(short.exchange, short.symbol),
    )
    ev = record.evaluation
    costs = ev.costs
    funding = ev.funding
    evaluation = Evaluation(
        size_base=ev.size_base,
        depth_size_base=ev.depth_size_base,
        costs=CostEstimate(
            size_base=costs.size_base,
            notional_quote=costs.notional_quote,
            horizon_ms=costs.horizon_ms,
            quote=_figures_of(costs.quote),
            bps=_figures_of(costs.bps),
            rebate_quote=costs.rebate_quote,
            funding_received_quote=costs.funding_received_quote,
            leg_funding=(_leg_funding_of(long.funding), _leg_funding_of(short.funding)),
            net_carry_per_hour_quote=costs.net_carry_per_hour_quote,
            break_even_hours=costs.break_even_hours,
            break_even_intervals=costs.break_even_intervals,
        ),
        gross_edge_quote=ev.gross_edge_quote,
        gross_edge_bps=ev.gross_edge_bps,
        gross_edge_apr=ev.gross_edge_apr,
        net_edge_quote=ev.net_edge_quote,
        net_edge_bps=ev.net_edge_bps,
        net_edge_apr=ev.net_edge_apr,
        mid_spread_bps=ev.mid_spread_bps,
        funding=None
        if funding is None
        else FundingDifferential(
            per_hour=funding.per_hour, per_8h=funding.per_8h, apr_simple=funding.apr_simple
        ),
        risk_score=ev.risk_score,
        urgency_ms=ev.urgency_ms,
        quote_ts_ms=(long.quote_ts_ms, short.quote_ts_ms),
        mids=(long.mid_price, short.mid_price),
        kinds=(_kind_of(long), _kind_of(short)),
    )
    return TrackedOpportunity(
        id=record.opportunity_id,
        candidate=candidate,
        opened_at_ms=record.opened_at_ms,
        updated_at_ms=record.updated_at_ms,
        evaluation=evaluation,
        carry_sign_at_open=record.carry_sign_at_open,
    )


# ---- risk: control state and exposures --------------------------------------------------------


def control_record(control: ControlState) -> wire.RiskControl:
    limits = control.limits
    return wire.RiskControl(
        limits=wire.RiskLimits(
            max_symbol_notional_quote=limits.max_symbol_notional_quote,
            max_venue_notional_quote=limits.max_venue_notional_quote,
            max_asset_notional_quote=limits.max_asset_notional_quote,
            max_total_notional_quote=limits.max_total_notional_quote,
            max_leverage=limits.max_leverage,
            margin_buffer=limits.margin_buffer,
            max_concurrent=limits.max_concurrent,
            max_quote_age_ms=limits.max_quote_age_ms,
            min_notional_quote=limits.min_notional_quote,
        ),
        kill_switch=control.kill_switch,
        kill_reason=control.kill_reason,
        last_command_ms=control.last_command_ms,
    )


def control_of(record: wire.RiskControl) -> ControlState:
    r = record.limits
    limits = Limits(
        max_symbol_notional_quote=r.max_symbol_notional_quote,
        max_venue_notional_quote=r.max_venue_notional_quote,
        max_asset_notional_quote=r.max_asset_notional_quote,
        max_total_notional_quote=r.max_total_notional_quote,
        max_leverage=r.max_leverage,
        margin_buffer=r.margin_buffer,
        max_concurrent=r.max_concurrent,
        max_quote_age_ms=r.max_quote_age_ms,
        min_notional_quote=r.min_notional_quote,
    )
    return ControlState(limits, record.kill_switch, record.kill_reason, record.last_command_ms)


def exposure_record(opportunity_id: str, legs: ExposureLegs) -> wire.OpenExposure:
    return wire.OpenExposure(
        opportunity_id=opportunity_id,
        legs=tuple(
            wire.ExposureLeg(
                exchange=key.exchange,
                symbol=key.symbol,
                notional_quote=notional,
                margin_quote=margin,
            )
            for key, notional, margin in legs
        ),
    )


def exposure_of(record: wire.OpenExposure) -> tuple[str, ExposureLegs]:
    legs = tuple(
        (InstrumentKey(leg.exchange, leg.symbol), leg.notional_quote, leg.margin_quote)
        for leg in record.legs
    )
    return record.opportunity_id, legs
