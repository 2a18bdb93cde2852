"""Sizing caps, control reducer and the pre-trade decision."""

from __future__ import annotations

from decimal import Decimal

import pytest

from processors.detection import DetectionConfig
from processors.metrics import Incident
from processors.opportunities import Opportunity
from processors.opportunities import OpportunityBook
from processors.opportunities import step
from processors.risk import ControlState
from processors.risk import EngageKillSwitch
from processors.risk import ReleaseKillSwitch
from processors.risk import SetLimit
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
from processors.units import MarketKind
from schemas.errors import InvalidEvent
from schemas.records.dlq import DeadLetterReason

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


def _opportunity() -> Opportunity:
    fees = FeeSchedule(D("0.0001"), D("0.0001"))
    book = Book((BookLevel(D("99.99"), D(1000)),), (BookLevel(D("100.01"), D(1000)),), 0)
    funding = FundingSchedule(FundingRate(D("0.0005"), 8 * H), H, book.mid)
    view = {
        SPOT: InstrumentState(SPOT, MarketKind.SPOT, book, fees),
        PERP: InstrumentState(PERP, MarketKind.PERP, book, fees, funding),
    }
    state, _ = step(OpportunityBook(), view, 0, DetectionConfig())
    return state.open[0]


def test_size_caps_by_hand() -> None:
    legs = [SizingLeg(SPOT, MarketKind.SPOT, D(100)), SizingLeg(PERP, MarketKind.PERP, D(100))]
    caps = size_caps(legs, D(1000), Portfolio(available_balance_quote={"a": D(10_000)}), LIMITS)
    by_code = {c.code: c.cap_base for c in caps.caps}
    assert by_code["DEPTH"] == D(1000)
    assert by_code["SYMBOL_LIMIT"] == D(50)  # 5,000 / 100 per symbol
    assert by_code["VENUE_LIMIT"] == D(40)  # 8,000 / (100 + 100)
    # usable 8,000 / (100 spot + 100 / 2 perp margin)
    assert by_code["BALANCE"] == D(8_000) / D(150)
    assert caps.size_base == D(40)
    assert caps.binding is not None
    assert caps.binding.code == "VENUE_LIMIT"


def test_existing_exposure_reduces_headroom() -> None:
    legs = [SizingLeg(SPOT, MarketKind.SPOT, D(100))]
    portfolio = Portfolio({SPOT: D(4_000), InstrumentKey("a", "ETH/USDT"): D(-3_000)}, {})
    by_code = {c.code: c.cap_base for c in size_caps(legs, D(1000), portfolio, LIMITS).caps}
    assert by_code["SYMBOL_LIMIT"] == D(10)  # 1,000 left
    assert by_code["VENUE_LIMIT"] == D(10)  # 8,000 - 4,000 - |-3,000| left
    assert by_code["BALANCE"] == 0


def test_approves_at_the_largest_size_all_caps_allow() -> None:
    decision = evaluate(_opportunity(), RICH, ControlState(LIMITS), now_ms=1000)
    assert decision.approved
    assert decision.reasons == ()
    assert decision.size_base == D(40)


def test_rejection_lists_every_failing_reason() -> None:
    control = apply_control(ControlState(LIMITS), EngageKillSwitch(5, "drawdown"))
    control = apply_control(control, SetLimit(6, "max_venue_notional_quote", D(0)))
    broke = Portfolio({SPOT: D(5_000)}, {"a": D(0)}, open_opportunities=2)
    decision = evaluate(_opportunity(), broke, control, now_ms=60_000)
    codes = [code for code, _ in decision.reasons]
    assert not decision.approved
    assert decision.size_base == 0
    assert codes == [
        "KILL_SWITCH",
        "STALE_QUOTE",
        "STALE_QUOTE",
        "MAX_CONCURRENT",
        "SYMBOL_LIMIT",
        "VENUE_LIMIT",
        "BALANCE",
    ]


def test_control_reducer_engages_releases_and_changes_limits() -> None:
    state = ControlState(LIMITS)
    state = apply_control(state, EngageKillSwitch(1, "manual"))
    assert state.kill_switch
    assert state.kill_reason == "manual"
    state = apply_control(state, ReleaseKillSwitch(2))
    assert not state.kill_switch
    assert state.kill_reason is None
    state = apply_control(state, SetLimit(3, "max_concurrent", D(7)))
    assert state.limits.max_concurrent == 7
    assert isinstance(state.limits.max_concurrent, int)
    assert state.last_command_ms == 3


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("max_pizza", D(1), DeadLetterReason.UNKNOWN_LIMIT),
        ("max_total_notional_quote", D(-1), DeadLetterReason.INVALID_LIMIT),
        ("max_concurrent", D("1.5"), DeadLetterReason.INVALID_LIMIT),
    ],
)
def test_bad_limit_commands_are_invalid(name: str, value: D, reason: DeadLetterReason) -> None:
    with pytest.raises(InvalidEvent) as err:
        apply_control(ControlState(LIMITS), SetLimit(1, name, value))
    assert err.value.reason is reason


def test_incidents_trip_the_kill_switch() -> None:
    incidents = [
        Incident("LOW_SHARPE", 0.1, 1.0, 5, trip_kill_switch=False),
        Incident("MAX_DRAWDOWN", 600.0, 500.0, 7, trip_kill_switch=True),
    ]
    command = kill_switch_command(incidents)
    assert command is not None
    assert command.at_ms == 7
    assert "MAX_DRAWDOWN" in command.reason
    assert kill_switch_command(incidents[:1]) is None
