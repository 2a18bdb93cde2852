"""Sizing caps, control reducer and the pre-trade decision."""

from __future__ import annotations

from decimal import Decimal

import pytest

from benchmarks import synthetic as syn
from processors.detection import DetectionConfig
from processors.metrics import Breach
from processors.opportunities import OpportunityBook
from processors.opportunities import step
from processors.records import opportunity_record
from processors.risk import ControlState
from processors.risk import apply_control
from processors.risk import evaluate
from processors.risk import kill_switch_command
from processors.sizing import Limits
from processors.sizing import Portfolio
from processors.sizing import SizingLeg
from processors.sizing import size_caps
from processors.units import Book
from processors.units import BookLevel
from processors.units import FeeSchedule
from processors.units import FundingRate
from processors.units import FundingSchedule
from processors.units import InstrumentKey
from processors.units import InstrumentState
from schemas.errors import InvalidEvent
from schemas.records.arb import Opportunity
from schemas.records.common import MarketType
from schemas.records.dlq import DeadLetterReason
from schemas.records.ops import ControlAction
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskReasonCode as Code

D = Decimal

H = 3_600_000
SPOT = InstrumentKey("a", "BTC/USDT")
PERP = InstrumentKey("a", "BTC/USDT:USDT")
LIMITS = Limits(
    max_symbol_notional_quote=D(5_000),
    max_venue_notional_quote=D(8_000),
    max_asset_notional_quote=D(1_000_000),
    max_total_notional_quote=D(1_000_000),
    max_leverage=D(2),
    margin_buffer=D("0.2"),
    max_concurrent=2,
    max_quote_age_ms=5_000,
    min_notional_quote=D(10),
)
RICH = Portfolio(available_balance_quote={"a": D(1_000_000)})


def _opportunity(spot_quote_ms: int = 0, perp_quote_ms: int = 0, at_ms: int = 0) -> Opportunity:
    """The ``arb.opportunity`` record a spot-perp detection opens at ``at_ms``, from books
    quoted at the given times (the detector keeps books for a minute; the risk check is the
    stricter of the two)."""
    fees = FeeSchedule(D("0.0001"), D("0.0001"))
    bids, asks = (BookLevel(D("99.99"), D(1000)),), (BookLevel(D("100.01"), D(1000)),)
    spot_book, perp_book = Book(bids, asks, spot_quote_ms), Book(bids, asks, perp_quote_ms)
    funding = FundingSchedule(FundingRate(D("0.0005"), 8 * H), at_ms + H, spot_book.mid)
    view = {
        SPOT: InstrumentState(SPOT, MarketType.SPOT, spot_book, fees),
        PERP: InstrumentState(PERP, MarketType.PERP, perp_book, fees, funding),
    }
    _, (opened,) = step(OpportunityBook(), view, at_ms, DetectionConfig(stale_after_ms=60_000))
    return opportunity_record(opened, view, "BTC", None)


def _control(
    action: ControlAction, t: int, name: str | None = None, value: str | None = None
) -> ControlCommand:
    return syn.control(action, t, name=name, value=value)


def test_size_caps_by_hand() -> None:
    legs = [SizingLeg(SPOT, MarketType.SPOT, D(100)), SizingLeg(PERP, MarketType.PERP, D(100))]
    caps = size_caps(legs, D(1000), Portfolio(available_balance_quote={"a": D(10_000)}), LIMITS)
    by_code = {c.code: c.cap_base for c in caps.caps}
    assert by_code[Code.INSUFFICIENT_LIQUIDITY] == D(1000)
    assert by_code[Code.SYMBOL_LIMIT_EXCEEDED] == D(50)  # 5,000 / 100 per symbol
    assert by_code[Code.VENUE_LIMIT_EXCEEDED] == D(40)  # 8,000 / (100 + 100)
    # usable 8,000 / (100 spot + 100 / 2 perp margin)
    assert by_code[Code.INSUFFICIENT_BALANCE] == D(8_000) / D(150)
    assert caps.size_base == D(40)
    assert caps.binding is not None
    assert caps.binding.code is Code.VENUE_LIMIT_EXCEEDED


def test_existing_exposure_reduces_headroom() -> None:
    legs = [SizingLeg(SPOT, MarketType.SPOT, D(100))]
    portfolio = Portfolio({SPOT: D(4_000), InstrumentKey("a", "ETH/USDT"): D(-3_000)}, {})
    by_code = {c.code: c.cap_base for c in size_caps(legs, D(1000), portfolio, LIMITS).caps}
    assert by_code[Code.SYMBOL_LIMIT_EXCEEDED] == D(10)  # 1,000 left
    assert by_code[Code.VENUE_LIMIT_EXCEEDED] == D(10)  # 8,000 - 4,000 - |-3,000| left
    assert by_code[Code.INSUFFICIENT_BALANCE] == 0


def test_approves_at_the_largest_size_all_caps_allow() -> None:
    decision = evaluate(_opportunity(), RICH, ControlState(LIMITS), now_ms=1000)
    assert decision.approved
    assert decision.reasons == ()
    assert decision.size_base == D(40)


def test_rejection_lists_every_failing_reason() -> None:
    control = apply_control(ControlState(LIMITS), _control(ControlAction.KILL_SWITCH_ENGAGE, 5))
    control = apply_control(
        control, _control(ControlAction.LIMIT_CHANGE, 6, "max_venue_notional_quote", "0")
    )
    broke = Portfolio({SPOT: D(5_000)}, {"a": D(0)}, open_opportunities=2)
    decision = evaluate(_opportunity(), broke, control, now_ms=60_000)
    codes = [reason.code for reason in decision.reasons]
    assert not decision.approved
    assert decision.size_base == 0
    assert codes == [
        Code.KILL_SWITCH_ENGAGED,
        Code.STALE_MARKET_DATA,
        Code.STALE_MARKET_DATA,
        Code.MAX_CONCURRENT_EXCEEDED,
        Code.SYMBOL_LIMIT_EXCEEDED,
        Code.VENUE_LIMIT_EXCEEDED,
        Code.INSUFFICIENT_BALANCE,
    ]
    assert not any(reason.detail.startswith("[") for reason in decision.reasons)


def test_a_stale_leg_is_rejected_though_the_record_is_fresh() -> None:
    # the perp book was quoted 6 s before the opportunity opened; the spot book is current
    record = _opportunity(spot_quote_ms=10_000, perp_quote_ms=4_000, at_ms=10_000)
    assert [leg.quote_time_ms for leg in record.legs] == [10_000, 4_000]
    assert record.envelope.event_time_ms == 10_000
    decision = evaluate(record, RICH, ControlState(LIMITS), now_ms=10_000)
    assert not decision.approved
    assert [(r.code, r.detail) for r in decision.reasons] == [
        (Code.STALE_MARKET_DATA, f"{PERP} quote is 6000 ms old")
    ]


def test_fresh_legs_of_a_fresh_record_pass() -> None:
    record = _opportunity(spot_quote_ms=9_000, perp_quote_ms=5_000, at_ms=10_000)
    decision = evaluate(record, RICH, ControlState(LIMITS), now_ms=10_000)
    assert decision.approved, decision.reasons
    assert decision.size_base == D(40)


def test_a_record_without_leg_quote_times_ages_by_its_own_time() -> None:
    fresh_legs = _opportunity(spot_quote_ms=0, perp_quote_ms=0, at_ms=10_000)
    old = fresh_legs.model_copy(
        update={
            "legs": tuple(leg.model_copy(update={"quote_time_ms": None}) for leg in fresh_legs.legs)
        }
    )
    assert evaluate(old, RICH, ControlState(LIMITS), now_ms=10_000).approved
    assert not evaluate(fresh_legs, RICH, ControlState(LIMITS), now_ms=10_000).approved


def test_control_reducer_engages_releases_and_changes_limits() -> None:
    state = ControlState(LIMITS)
    engage = _control(ControlAction.KILL_SWITCH_ENGAGE, 1).model_copy(update={"reason": "manual"})
    state = apply_control(state, engage)
    assert state.kill_switch
    assert state.kill_reason == "manual"
    state = apply_control(state, _control(ControlAction.KILL_SWITCH_RELEASE, 2))
    assert not state.kill_switch
    assert state.kill_reason is None
    state = apply_control(state, _control(ControlAction.LIMIT_CHANGE, 3, "max_concurrent", "7"))
    assert state.limits.max_concurrent == 7
    assert isinstance(state.limits.max_concurrent, int)
    assert state.last_command_ms == 3


@pytest.mark.parametrize("action", [ControlAction.PARAMETER_CHANGE, ControlAction.UNKNOWN])
def test_actions_the_risk_check_does_not_act_on_change_nothing(action: ControlAction) -> None:
    state = ControlState(LIMITS)
    assert apply_control(state, _control(action, 1, "max_concurrent", "7")) is state


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("max_pizza", "1", DeadLetterReason.UNKNOWN_LIMIT),
        ("max_total_notional_quote", "-1", DeadLetterReason.INVALID_LIMIT),
        ("max_total_notional_quote", "NaN", DeadLetterReason.INVALID_LIMIT),
        ("max_total_notional_quote", "lots", DeadLetterReason.INVALID_LIMIT),
        ("max_concurrent", "1.5", DeadLetterReason.INVALID_LIMIT),
        ("max_concurrent", None, DeadLetterReason.INVALID_LIMIT),
        (None, "1", DeadLetterReason.INVALID_LIMIT),
    ],
)
def test_bad_limit_commands_are_invalid(
    name: str | None, value: str | None, reason: DeadLetterReason
) -> None:
    with pytest.raises(InvalidEvent) as err:
        apply_control(ControlState(LIMITS), _control(ControlAction.LIMIT_CHANGE, 1, name, value))
    assert err.value.reason is reason


def test_incidents_trip_the_kill_switch() -> None:
    incidents = [
        Breach("LOW_SHARPE", 0.1, 1.0, 5, trip_kill_switch=False),
        Breach("MAX_DRAWDOWN", 600.0, 500.0, 7, trip_kill_switch=True),
    ]
    command = kill_switch_command(incidents)
    assert command is not None
    assert command.action is ControlAction.KILL_SWITCH_ENGAGE
    assert command.envelope.event_time_ms == 7
    assert "MAX_DRAWDOWN" in command.reason
    assert command == kill_switch_command(incidents)  # a replay derives the same event
    assert apply_control(ControlState(LIMITS), command).kill_switch
    assert kill_switch_command(incidents[:1]) is None
