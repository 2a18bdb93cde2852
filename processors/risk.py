"""Pre-trade risk: control state (kill switch, limits) as a reducer, and the decision.

Control commands are events (``ops.control``), so a replay rebuilds the same control state:
``apply_control(state, command) -> state``. ``evaluate`` checks everything and lists *every*
failing reason as ``(code, detail)``; it approves with the largest size all caps allow.

Codes: ``KILL_SWITCH``, ``STALE_QUOTE`` (per leg: quote older than ``max_quote_age_ms`` at the
decision's event time), ``MAX_CONCURRENT``, ``EDGE_NOT_POSITIVE``, and each size cap
(``DEPTH``, ``SYMBOL_LIMIT``, ``VENUE_LIMIT``, ``ASSET_LIMIT``, ``TOTAL_LIMIT``, ``BALANCE``)
whose headroom is below ``min_notional_quote``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import fields
from dataclasses import replace
from decimal import Decimal
from typing import Any

from processors.metrics import Incident
from processors.opportunities import Opportunity
from processors.sizing import Limits
from processors.sizing import Portfolio
from processors.sizing import SizeCaps
from processors.sizing import SizingLeg
from processors.sizing import size_caps
from processors.units import ZERO
from processors.units import persistable
from schemas.errors import InvalidEvent
from schemas.records.dlq import DeadLetterReason
from schemas.scalars import LONG_MAX


@dataclass(frozen=True, slots=True)
class EngageKillSwitch:
    at_ms: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReleaseKillSwitch:
    at_ms: int


@dataclass(frozen=True, slots=True)
class SetLimit:
    at_ms: int
    name: str
    value: Decimal


ControlCommand = EngageKillSwitch | ReleaseKillSwitch | SetLimit

_INT_LIMITS = {"max_concurrent", "max_quote_age_ms"}
_LIMIT_NAMES = {f.name for f in fields(Limits)}


@dataclass(frozen=True, slots=True)
class ControlState:
    limits: Limits
    kill_switch: bool = False
    kill_reason: str | None = None
    last_command_ms: int | None = None


def apply_control(state: ControlState, command: ControlCommand) -> ControlState:
    """Pure reducer over control commands; an unknown limit or a negative value is invalid."""
    if isinstance(command, EngageKillSwitch):
        return replace(
            state, kill_switch=True, kill_reason=command.reason, last_command_ms=command.at_ms
        )
    if isinstance(command, ReleaseKillSwitch):
        return replace(state, kill_switch=False, kill_reason=None, last_command_ms=command.at_ms)
    if command.name not in _LIMIT_NAMES:
        raise InvalidEvent(DeadLetterReason.UNKNOWN_LIMIT, f"no limit named {command.name!r}")
    if command.value < 0 or not command.value.is_finite():
        raise InvalidEvent(
            DeadLetterReason.INVALID_LIMIT, f"{command.name} cannot be {command.value}"
        )
    try:  # the control state is persisted: its limits are fitted to decimal(38, 18)
        value: Decimal | int = persistable(command.value)
    except ValueError as e:
        raise InvalidEvent(
            DeadLetterReason.INVALID_LIMIT, f"{command.name} cannot be {command.value}"
        ) from e
    if command.name in _INT_LIMITS:
        if command.value != command.value.to_integral_value():
            raise InvalidEvent(
                DeadLetterReason.INVALID_LIMIT, f"{command.name} must be whole, was {value}"
            )
        value = int(command.value)
        if value > LONG_MAX:
            raise InvalidEvent(
                DeadLetterReason.INVALID_LIMIT, f"{command.name} cannot be {command.value}"
            )
    change: dict[str, Any] = {command.name: value}
    limits = replace(state.limits, **change)
    return replace(state, limits=limits, last_command_ms=command.at_ms)


def kill_switch_command(incidents: Sequence[Incident]) -> EngageKillSwitch | None:
    """The command to engage the switch when any incident asks for it."""
    tripping = [i for i in incidents if i.trip_kill_switch]
    if not tripping:
        return None
    at_ms = max(i.at_ms for i in tripping)
    return EngageKillSwitch(at_ms, "; ".join(i.detail for i in tripping))


@dataclass(frozen=True, slots=True)
class Decision:
    opportunity_id: str
    approved: bool
    size_base: Decimal
    reasons: tuple[tuple[str, str], ...]
    caps: SizeCaps
    at_ms: int


def evaluate(
    opportunity: Opportunity, portfolio: Portfolio, control: ControlState, now_ms: int
) -> Decision:
    limits = control.limits
    ev = opportunity.evaluation
    keys = (opportunity.candidate.long, opportunity.candidate.short)
    reasons: list[tuple[str, str]] = []
    if control.kill_switch:
        reasons.append(("KILL_SWITCH", control.kill_reason or "engaged"))
    for key, ts in zip(keys, ev.quote_ts_ms, strict=True):
        age = now_ms - ts
        if age > limits.max_quote_age_ms:
            reasons.append(("STALE_QUOTE", f"{key} quote is {age} ms old"))
    if portfolio.open_opportunities >= limits.max_concurrent:
        reasons.append(
            ("MAX_CONCURRENT", f"{portfolio.open_opportunities} open of {limits.max_concurrent}")
        )
    if ev.net_edge_quote <= 0:
        reasons.append(("EDGE_NOT_POSITIVE", f"net edge {ev.net_edge_quote} quote"))
    legs = [
        SizingLeg(key, kind, price)
        for key, kind, price in zip(keys, ev.kinds, ev.mids, strict=True)
    ]
    caps = size_caps(legs, ev.size_base, portfolio, limits)
    ref_price = max(ev.mids)
    min_base = limits.min_notional_quote / ref_price
    reasons.extend(
        (cap.code, f"{cap.detail}; allows {cap.cap_base} base < minimum {min_base}")
        for cap in caps.caps
        if cap.cap_base < min_base
    )
    approved = not reasons
    return Decision(
        opportunity_id=opportunity.id,
        approved=approved,
        size_base=caps.size_base if approved else ZERO,
        reasons=tuple(reasons),
        caps=caps,
        at_ms=now_ms,
    )
