"""Settings of the streams (a plain frozen model: it never reads the environment).

``fundingflow.settings.Settings`` (or a test) builds one and passes it down. Everything that
changes what the reducers compute (fees, detection and risk parameters) is here, so the worker
and the offline replay (:mod:`streams.digest`) compute the same state from the same input.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from processors.detection import DetectionConfig
from processors.risk import ControlState
from processors.sizing import Limits
from processors.units import FeeSchedule
from processors.units import MarketKind
from schemas.topics import MD_BOOK
from schemas.topics import by_name


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeeRates(_Frozen):
    """Fee rates as fractions of notional (negative maker = rebate)."""

    maker: Decimal
    taker: Decimal


class RiskSettings(_Frozen):
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

    def balance(self, venue: str) -> Decimal:
        return self.balances_quote.get(venue, self.default_balance_quote)


class MarketSettings(_Frozen):
    """What the market-state reducer needs beyond the events."""

    spot_fees: FeeRates = FeeRates(maker=Decimal("0.001"), taker=Decimal("0.001"))
    perp_fees: FeeRates = FeeRates(maker=Decimal("0.0002"), taker=Decimal("0.0005"))
    venue_fees: dict[str, FeeRates] = Field(default_factory=dict)
    """Overrides by ``<exchange>`` or ``<exchange>:SPOT`` / ``<exchange>:PERP``."""
    min_eval_interval_ms: int = Field(default=250, ge=0)
    """Re-evaluate an asset at most once per this much *event time* (0: on every change).
    Deterministic: it depends on event times only, never on the wall clock."""
    emit_spreads: bool = True
    horizon_ms: int = 24 * 3_600_000
    max_holding_ms: int = 48 * 3_600_000
    stale_after_ms: int = 5_000
    max_notional_quote: Decimal = Decimal(10_000)
    max_open: int = 20

    def fees(self, exchange: str, kind: MarketKind) -> FeeSchedule:
        rates = (
            self.venue_fees.get(f"{exchange}:{kind.value}")
            or self.venue_fees.get(exchange)
            or (self.spot_fees if kind is MarketKind.SPOT else self.perp_fees)
        )
        return FeeSchedule(rates.maker, rates.taker)

    def detection(self) -> DetectionConfig:
        return DetectionConfig(
            horizon_ms=self.horizon_ms,
            max_holding_ms=self.max_holding_ms,
            stale_after_ms=self.stale_after_ms,
            max_notional_quote=self.max_notional_quote,
            max_open=self.max_open,
        )


class StreamsSettings(_Frozen):
    """The Faust worker: where it connects, what it names its topics, how it computes."""

    app_id: str = "fundingflow"
    bootstrap: str = "127.0.0.1:9092"
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7"
    topic_prefix: str = ""
    """Prepended to every catalogue topic name (tests isolate themselves with it)."""
    market: MarketSettings = MarketSettings()
    risk: RiskSettings = RiskSettings()
    digest_path: Path | None = None
    """Where the worker writes its state digest (periodically and on shutdown)."""
    digest_interval_s: float = Field(default=2.0, gt=0)
    producer_linger_s: float = Field(default=0.0005, ge=0)
    """Explicit producer linger (aiokafka ``linger_ms``); asyncio sockets have Nagle off."""
    stream_buffer_maxsize: int = Field(default=8192, ge=1)
    auto_offset_reset: str = "earliest"
    session_timeout_s: float = Field(default=10.0, gt=0)
    """Broker session and rebalance timeout: how long a crashed worker holds its partitions."""
    web_port: int | None = None
    """Faust's web view (``/table/...``) on this port; None disables it."""
    log_level: str = "WARNING"

    def topic(self, name: str) -> str:
        """Physical name of catalogue topic ``name``."""
        return f"{self.topic_prefix}{name}"

    @property
    def md_sequenced(self) -> str:
        """Internal topic: md.book and md.funding merged in one order per asset partition."""
        return f"{self.app_id}-md-sequenced"

    @property
    def risk_sequenced(self) -> str:
        """Internal one-partition topic: arb.opportunity and ops.control in one total order."""
        return f"{self.app_id}-risk-sequenced"

    @property
    def md_partitions(self) -> int:
        return by_name(MD_BOOK).partitions
