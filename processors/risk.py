"""Pre-trade risk: control state (kill switch, limits) as a reducer, and the decision.

It speaks the wire's language: it reads the ``arb.opportunity`` and ``ops.control`` records
themselves and gives its reasons as ``risk.RiskReason`` records, one ``RiskReasonCode`` symbol
per check.

Control commands are events (``ops.control``), so a replay rebuilds the same control state:
``apply_control(state, command) -> state``. ``evaluate`` checks everything and lists *every*
failing reason; it approves with the largest size all caps allow.

Checks: ``KILL_SWITCH_ENGAGED``, ``STALE_MARKET_DATA`` (per leg: its quote older than
``max_quote_age_ms`` at the decision's event time), ``MAX_CONCURRENT_EXCEEDED``,
``EDGE_BELOW_MINIMUM`` (net edge not positive), and each size cap (``INSUFFICIENT_LIQUIDITY``,
``SYMBOL_LIMIT_EXCEEDED``, ``VENUE_LIMIT_EXCEEDED``, ``ASSET_LIMIT_EXCEEDED``,
``TOTAL_LIMIT_EXCEEDED``, ``INSUFFICIENT_BALANCE``) whose headroom is below
``min_notional_quote``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any

from processors.metrics import Breach
from processors.records import derived_id
from processors.records import instrument_key
from processors.records import traded_type
from processors.sizing import Limits
from processors.sizing import Portfolio
from processors.sizing import SizeCaps
from processors.sizing import SizingLeg
from processors.sizing import size_caps
from processors.units import BPS
from processors.units import ZERO
from processors.units import InstrumentKey
from processors.units import persistable
from schemas.errors import InvalidEvent
from schemas.records.arb import Opportunity
from schemas.records.common import Envelope
from schemas.records.common import MarketType
from schemas.records.dlq import DeadLetterReason
from schemas.records.ops import ControlAction
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.records.risk import RiskReason
from schemas.records.risk import RiskReasonCode
from schemas.scalars import LONG_MAX

_INT_LIMITS = {"max_concurrent", "max_quote_age_ms"}
_LIMIT_NAMES = {f.name for f in fields(Limits)}
KILL_SWITCH_ACTOR = "risk.incidents"


@dataclass(frozen=True, slots=True)
class ControlState:
    limits: Limits
    kill_switch: bool = False
    kill_reason: str | None = None
    last_command_ms: int | None = None


def apply_control(state: ControlState, command: ControlCommand) -> ControlState:
    """Pure reducer over ``ops.control`` records.

    Engages or releases the kill switch, or changes one limit; other actions (``UNKNOWN``,
    ``PARAMETER_CHANGE``) leave the state as it is. A limit change without a name or a value,
    of an unknown limit, or to a value that is not a finite non-negative number is invalid:
    it raises ``InvalidEvent`` and changes nothing.
    """
    at_ms = command.envelope.event_time_ms
    if command.action is ControlAction.KILL_SWITCH_ENGAGE:
        return replace(state, kill_switch=True, kill_reason=command.reason, last_command_ms=at_ms)
    if command.action is ControlAction.KILL_SWITCH_RELEASE:
        return replace(state, kill_switch=False, kill_reason=None, last_command_ms=at_ms)
    if command.action is not ControlAction.LIMIT_CHANGE:
        return state
    name, text = command.name, command.value
    if not name or not text:
        raise InvalidEvent(
            DeadLetterReason.INVALID_LIMIT,
            f"a limit change needs a name and a value: {name}={text}",
        )
    if name not in _LIMIT_NAMES:
        raise InvalidEvent(DeadLetterReason.UNKNOWN_LIMIT, f"no limit named {name!r}")
    try:
        number = Decimal(text)
    except InvalidOperation as e:
        raise InvalidEvent(DeadLetterReason.INVALID_LIMIT, f"{name} cannot be {text!r}") from e
    if not number.is_finite() or number < 0:
        raise InvalidEvent(DeadLetterReason.INVALID_LIMIT, f"{name} cannot be {number}")
    try:  # the control state is persisted: its limits are fitted to decimal(38, 18)
        value: Decimal | int = persistable(number)
    except ValueError as e:
        raise InvalidEvent(DeadLetterReason.INVALID_LIMIT, f"{name} cannot be {number}") from e
    if name in _INT_LIMITS:
        if number != number.to_integral_value():
            raise InvalidEvent(DeadLetterReason.INVALID_LIMIT, f"{name} must be whole, was {value}")
        value = int(number)
        if value > LONG_MAX:
            raise InvalidEvent(DeadLetterReason.INVALID_LIMIT, f"{name} cannot be {number}")
    change: dict[str, Any] = {name: value}
    return replace(state, limits=replace(state.limits, **change), last_command_ms=at_ms)


def kill_switch_command(breaches: Sequence[Breach]) -> ControlCommand | None:
    """The ``ops.control`` record that engages the switch when any breach asks for it."""
    tripping = [b for b in breaches if b.trip_kill_switch]
    if not tripping:
        return None
    at_ms = max(i.at_ms for i in tripping)
    reason = "; ".join(i.detail for i in tripping)
    return ControlCommand(
        envelope=Envelope(
            event_id=derived_id("kill", at_ms, reason),
            event_time_ms=at_ms,
            ingest_time_ms=at_ms,
        ),
        action=ControlAction.KILL_SWITCH_ENGAGE,
        actor=KILL_SWITCH_ACTOR,
        reason=reason,
    )


@dataclass(frozen=True, slots=True)
class RiskLeg:
    """One leg as the checks read it from the record."""

    sizing: SizingLeg
    quote_ts_ms: int


def risk_legs(record: Opportunity) -> tuple[RiskLeg, ...]:
    """The record's legs, long first, each with the event time of its quote.

    A leg without ``quote_time_ms`` (records written before the field existed) takes the
    record's own event time. A record with other than two legs is invalid.
    """
    if len(record.legs) != 2:
        raise InvalidEvent(
            DeadLetterReason.MALFORMED_PAYLOAD, f"expected two legs, was {len(record.legs)}"
        )
    at_ms = record.envelope.event_time_ms
    return tuple(
        RiskLeg(
            SizingLeg(
                instrument_key(leg.instrument),
                traded_type(leg.instrument) or MarketType.PERP,
                leg.entry_price,
            ),
            at_ms if leg.quote_time_ms is None else leg.quote_time_ms,
        )
        for leg in record.legs
    )


@dataclass(frozen=True, slots=True)
class Decision:
    opportunity_id: str
    approved: bool
    size_base: Decimal
    reasons: tuple[RiskReason, ...]
    caps: SizeCaps
    at_ms: int
    legs: tuple[RiskLeg, ...]
    """The legs as checked, long first."""

    def exposure(self, max_leverage: Decimal) -> tuple[tuple[InstrumentKey, Decimal, Decimal], ...]:
        """What an approval commits, per leg: (instrument, notional quote, margin quote).

        Margin is the notional over ``max_leverage`` for a perp, the whole notional for spot.
        """
        out = []
        for leg in self.legs:
            notional = self.size_base * leg.sizing.price
            lev = max_leverage if leg.sizing.kind is MarketType.PERP else 1
            out.append((leg.sizing.instrument, notional, notional / lev))
        return tuple(out)


def _reason(code: RiskReasonCode, detail: str) -> RiskReason:
    return RiskReason(code=code, detail=detail)


def evaluate(
    opportunity: Opportunity, portfolio: Portfolio, control: ControlState, now_ms: int
) -> Decision:
    """Every check on the ``arb.opportunity`` record at ``now_ms`` (the risk clock)."""
    limits = control.limits
    legs = risk_legs(opportunity)
    reasons: list[RiskReason] = []
    if control.kill_switch:
        reasons.append(
            _reason(RiskReasonCode.KILL_SWITCH_ENGAGED, control.kill_reason or "engaged")
        )
    for leg in legs:
        age = now_ms - leg.quote_ts_ms
        if age > limits.max_quote_age_ms:
            detail = f"{leg.sizing.instrument} quote is {age} ms old"
            reasons.append(_reason(RiskReasonCode.STALE_MARKET_DATA, detail))
    if portfolio.open_opportunities >= limits.max_concurrent:
        detail = f"{portfolio.open_opportunities} open of {limits.max_concurrent}"
        reasons.append(_reason(RiskReasonCode.MAX_CONCURRENT_EXCEEDED, detail))
    net_edge_quote = opportunity.net_edge_bps * opportunity.max_notional_quote / BPS
    if net_edge_quote <= 0:
        reasons.append(
            _reason(RiskReasonCode.EDGE_BELOW_MINIMUM, f"net edge {net_edge_quote} quote")
        )
    caps = size_caps([leg.sizing for leg in legs], opportunity.max_size_base, portfolio, limits)
    min_base = limits.min_notional_quote / max(leg.sizing.price for leg in legs)
    reasons.extend(
        _reason(cap.code, f"{cap.detail}; allows {cap.cap_base} base < minimum {min_base}")
        for cap in caps.caps
        if cap.cap_base < min_base
    )
    approved = not reasons
    return Decision(
        opportunity_id=opportunity.opportunity_id,
        approved=approved,
        size_base=caps.size_base if approved else ZERO,
        reasons=tuple(reasons),
        caps=caps,
        at_ms=now_ms,
        legs=legs,
    )


def decision_record(decision: Decision, record: Opportunity, causation_id: str) -> RiskDecision:
    """The ``risk.decision`` record of a verdict on ``record``."""
    size = decision.size_base
    price = max((leg.entry_price for leg in record.legs), default=ZERO)
    return RiskDecision(
        envelope=Envelope(
            event_id=derived_id("decision", decision.opportunity_id, causation_id),
            event_time_ms=decision.at_ms,
            ingest_time_ms=decision.at_ms,
            correlation_id=decision.opportunity_id,
            causation_id=causation_id,
        ),
        decision_id=derived_id("signal", decision.opportunity_id, decision.at_ms),
        opportunity_id=decision.opportunity_id,
        outcome=RiskOutcome.APPROVED if decision.approved else RiskOutcome.REJECTED,
        reasons=decision.reasons,
        legs=record.legs,
        approved_size_base=size,
        approved_notional_quote=size * price,
    )
