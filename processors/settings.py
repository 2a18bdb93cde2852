"""What the market and risk reducers compute with beyond the events (plain frozen models).

They never read the environment: ``fundingflow.settings.Settings`` (through the streams'
settings) or a test builds them and passes them down, so the worker and the offline replay
compute the same state from the same input.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from processors.detection import DetectionConfig
from processors.risk import ControlState
from processors.sizing import Limits
from processors.units import FeeSchedule
from processors.units import persistable
from schemas.records.arb import SpreadKind
from schemas.records.common import MarketType
from schemas.records.md import InstrumentFacts

CARRY_KINDS = (SpreadKind.SPOT_PERP, SpreadKind.PERP_PERP)


class FrozenSettings(BaseModel):
    """Base of every settings section: immutable, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FeeRates(FrozenSettings):
    """Fee rates as fractions of notional (negative maker = rebate)."""

    maker: Decimal
    taker: Decimal


class RiskSettings(FrozenSettings):
    """Initial limits (``ops.control`` LIMIT_CHANGE overrides them) and venue balances."""

    max_symbol_notional_quote: Decimal = Decimal(50_000)
    max_venue_notional_quote: Decimal = Decimal(100_000)
    max_asset_notional_quote: Decimal = Decimal(100_000)
    max_total_notional_quote: Decimal = Decimal(250_000)
    max_leverage: Decimal = Decimal(3)
    max_concurrent: int = 10
    max_quote_age_ms: int = 5_000
    min_notional_quote: Decimal = Decimal(10)
    balances_quote: dict[str, Decimal] = Field(default_factory=dict)
    """Free balance per venue; a venue without an entry has ``default_balance_quote``."""
    default_balance_quote: Decimal = Decimal(100_000)

    def control_state(self) -> ControlState:
        return ControlState(
            persistable(  # persisted with the risk state: fitted to decimal(38, 18)
                Limits(
                    max_symbol_notional_quote=self.max_symbol_notional_quote,
                    max_venue_notional_quote=self.max_venue_notional_quote,
                    max_asset_notional_quote=self.max_asset_notional_quote,
                    max_total_notional_quote=self.max_total_notional_quote,
                    max_leverage=self.max_leverage,
                    max_concurrent=self.max_concurrent,
                    max_quote_age_ms=self.max_quote_age_ms,
                    min_notional_quote=self.min_notional_quote,
                )
            )
        )

    def balance(self, venue: str) -> Decimal:
        return self.balances_quote.get(venue, self.default_balance_quote)


class MarketSettings(FrozenSettings):
    """What the market-state reducer needs beyond the events."""

    spot_fees: FeeRates = FeeRates(maker=Decimal("0.001"), taker=Decimal("0.001"))
    perp_fees: FeeRates = FeeRates(maker=Decimal("0.0002"), taker=Decimal("0.0005"))
    venue_fees: dict[str, FeeRates] = Field(default_factory=dict)
    """Overrides by ``<exchange>`` or ``<exchange>:SPOT`` / ``<exchange>:PERP``."""
    min_eval_interval_ms: int = Field(default=250, ge=0)
    """Re-evaluate an asset at most once per this much *event time* (0: on every change).
    Deterministic: it depends on event times only, never on the wall clock."""
    emit_spreads: bool = True
    horizon_ms: int = 48 * 3_600_000
    """Holding horizon the edge is priced over (funding earned vs one-off costs); equal to the
    maximum holding time, so an opportunity is judged over the period it may be held."""
    max_holding_ms: int = 48 * 3_600_000
    stale_after_ms: int = 5_000
    max_notional_quote: Decimal = Decimal(10_000)
    max_open: int = 20
    allow_short_spot: bool = False
    """Reverse carry (short spot, long perp when funding is negative): sells borrowed coins,
    so it also needs the spot venue's borrow rate in its instrument facts."""
    carry_open_net_apr: Decimal | None = None
    """Net APR (a fraction: 0.10 = 10 %) a carry trade (spot-perp, perp-perp) must reach to
    open; None: the detector's default (0.10)."""
    carry_exit_net_apr: Decimal | None = None
    """Net APR below which an open carry trade closes; None: the detector's default (0.04)."""

    def fees(
        self, exchange: str, kind: MarketType, facts: InstrumentFacts | None = None
    ) -> FeeSchedule:
        """The fee rates an instrument is priced with, first found: this worker's override for
        the venue (``venue_fees``), the venue's rates from its instrument facts (which carry the
        connector's per-account override, ``fee_source``), the default schedule of its kind."""
        rates = self.venue_fees.get(f"{exchange}:{kind.value}") or self.venue_fees.get(exchange)
        if rates is not None:
            return FeeSchedule(rates.maker, rates.taker)
        if facts is not None and facts.maker_fee is not None and facts.taker_fee is not None:
            return FeeSchedule(facts.maker_fee, facts.taker_fee)
        rates = self.spot_fees if kind is MarketType.SPOT else self.perp_fees
        return FeeSchedule(rates.maker, rates.taker)

    def detection(self) -> DetectionConfig:
        config = DetectionConfig(
            horizon_ms=self.horizon_ms,
            max_holding_ms=self.max_holding_ms,
            stale_after_ms=self.stale_after_ms,
            max_notional_quote=self.max_notional_quote,
            max_open=self.max_open,
            allow_short_spot=self.allow_short_spot,
        )
        if self.carry_open_net_apr is None and self.carry_exit_net_apr is None:
            return config
        thresholds = dict(config.thresholds)
        for kind in CARRY_KINDS:
            t = thresholds[kind]
            thresholds[kind] = replace(
                t,
                open_net_apr=t.open_net_apr
                if self.carry_open_net_apr is None
                else self.carry_open_net_apr,
                exit_net_apr=t.exit_net_apr
                if self.carry_exit_net_apr is None
                else self.carry_exit_net_apr,
            )
        return replace(config, thresholds=thresholds)
