"""The backtest's strategy file (``strategy.toml``): parameters, validated, with clear errors.

Every section and key is optional (the defaults below); an unknown section or key, or a value
of the wrong type or range, is refused with the dotted name of the field (:class:`StrategyError`).

.. code-block:: toml

    [strategy]
    entry_apr = 10          # % net APR a carry trade (spot-perp, perp-perp) needs to open
    exit_apr = 4            # % net APR below which an open carry trade closes
    size_quote = 10000      # largest notional per opportunity, quote currency
    horizon_hours = 48      # horizon the edge is priced over (= max holding time)
    stale_after_s = 300     # a quote older than this closes an opportunity / is refused by risk
    entry_band_bps = 50     # entries are limit IOC orders this far past the expected price
    close_at_end = true     # close what is still held at the end against the last books
    allow_short_spot = false
    kinds = ["SPOT_PERP", "PERP_PERP", "CROSS_EXCHANGE_PRICE"]   # kinds traded

    [costs]
    extra_slippage_bps = 0  # adverse move on every fill beyond the recorded depth walk
    [costs.fees]            # fee overrides (fractions), by venue or venue:SPOT / venue:PERP
    "sim-okx:PERP" = { maker = 0.0002, taker = 0.0005 }

    [risk]                  # pre-trade limits (quote currency)
    max_concurrent = 10
    max_symbol_notional_quote = 50000
    max_total_notional_quote = 250000
    max_leverage = 3
    balance_quote = 100000  # free balance per venue

    [report]
    capital_quote = 100000  # what returns are relative to
    sample_minutes = 15     # equity curve resolution
    sharpe_minutes = 60     # Sharpe's sampling period

    [sim]                   # only for --data sim:SCENARIO
    seed = 0
    hours = 24
    step_s = 60             # market time per simulated step
    assets = ["BTC", "ETH", "SOL", "XRP", "DOGE"]
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ValidationError
from pydantic import model_validator

from processors.detection import SPREAD_KINDS
from processors.settings import FeeRates
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from schemas.errors import FundingflowError
from schemas.records.arb import SpreadKind

HOUR_MS = 3_600_000
PERCENT = Decimal(100)


class StrategyError(FundingflowError):
    """A strategy file or parameter that cannot be used."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StrategyParams(_Section):
    entry_apr: Decimal = Field(default=Decimal(10), ge=0)
    exit_apr: Decimal = Field(default=Decimal(4))
    size_quote: Decimal = Field(default=Decimal(10_000), gt=0)
    horizon_hours: Decimal = Field(default=Decimal(48), gt=0)
    stale_after_s: int = Field(default=300, gt=0)
    entry_band_bps: Decimal | None = Field(default=Decimal(50), ge=0)
    close_at_end: bool = True
    allow_short_spot: bool = False
    kinds: tuple[SpreadKind, ...] = Field(default=SPREAD_KINDS, min_length=1)
    """Opportunity kinds the strategy trades; the others are detected but never decided."""
    min_eval_interval_ms: int = Field(default=250, ge=0)

    @model_validator(mode="after")
    def _hysteresis(self) -> StrategyParams:
        if self.exit_apr > self.entry_apr:
            raise ValueError(
                f"exit_apr ({self.exit_apr}) must not exceed entry_apr ({self.entry_apr})"
            )
        return self


class Costs(_Section):
    extra_slippage_bps: Decimal = Field(default=Decimal(0), ge=0)
    fees: dict[str, FeeRates] = Field(default_factory=dict)


class RiskLimits(_Section):
    max_concurrent: int = Field(default=10, ge=1)
    max_symbol_notional_quote: Decimal = Field(default=Decimal(50_000), gt=0)
    max_venue_notional_quote: Decimal = Field(default=Decimal(100_000), gt=0)
    max_asset_notional_quote: Decimal = Field(default=Decimal(100_000), gt=0)
    max_total_notional_quote: Decimal = Field(default=Decimal(250_000), gt=0)
    max_leverage: Decimal = Field(default=Decimal(3), gt=0)
    min_notional_quote: Decimal = Field(default=Decimal(10), ge=0)
    balance_quote: Decimal = Field(default=Decimal(100_000), gt=0)


class Report(_Section):
    capital_quote: Decimal = Field(default=Decimal(100_000), gt=0)
    sample_minutes: int = Field(default=15, ge=1)
    sharpe_minutes: int = Field(default=60, ge=1)


DEFAULT_ASSETS = ("BTC", "ETH", "SOL", "XRP", "DOGE")


class SimSection(_Section):
    seed: int = 0
    hours: Decimal = Field(default=Decimal(24), gt=0)
    step_s: int = Field(default=60, ge=1)
    assets: tuple[str, ...] = Field(default=DEFAULT_ASSETS, min_length=1)


class Strategy(_Section):
    strategy: StrategyParams = StrategyParams()
    costs: Costs = Costs()
    risk: RiskLimits = RiskLimits()
    report: Report = Report()
    sim: SimSection = SimSection()

    def market_settings(self) -> MarketSettings:
        s = self.strategy
        horizon = int(s.horizon_hours * HOUR_MS)
        return MarketSettings(
            venue_fees=self.costs.fees,
            min_eval_interval_ms=s.min_eval_interval_ms,
            emit_spreads=False,
            horizon_ms=horizon,
            max_holding_ms=horizon,
            stale_after_ms=s.stale_after_s * 1000,
            max_notional_quote=s.size_quote,
            allow_short_spot=s.allow_short_spot,
            carry_open_net_apr=s.entry_apr / PERCENT,
            carry_exit_net_apr=s.exit_apr / PERCENT,
        )

    def risk_settings(self) -> RiskSettings:
        r = self.risk
        return RiskSettings(
            max_symbol_notional_quote=r.max_symbol_notional_quote,
            max_venue_notional_quote=r.max_venue_notional_quote,
            max_asset_notional_quote=r.max_asset_notional_quote,
            max_total_notional_quote=r.max_total_notional_quote,
            max_leverage=r.max_leverage,
            max_concurrent=r.max_concurrent,
            max_quote_age_ms=self.strategy.stale_after_s * 1000,
            min_notional_quote=r.min_notional_quote,
            default_balance_quote=r.balance_quote,
        )

    def with_params(self, params: dict[str, Any]) -> Strategy:
        """A copy with ``params`` set (``key`` of a unique section, or ``section.key``),
        validated like the file."""
        document = self.model_dump(mode="json")
        for name, value in params.items():
            section, key = resolve_param(name)
            document[section][key] = value
        return validate(document, "parameters")


def resolve_param(name: str) -> tuple[str, str]:
    """(section, key) of a parameter named ``key`` or ``section.key``."""
    sections = {n: f.annotation for n, f in Strategy.model_fields.items()}
    if "." in name:
        section, _, key = name.partition(".")
        model = sections.get(section)
        if model is None or key not in model.model_fields:
            raise StrategyError(f"unknown parameter {name!r}")
        return section, key
    found = [s for s, m in sections.items() if name in m.model_fields]  # type: ignore[union-attr]
    if len(found) != 1:
        detail = "unknown" if not found else f"ambiguous ({', '.join(found)})"
        raise StrategyError(f"{detail} parameter {name!r}")
    return found[0], name


def _message(error: ValidationError, source: str) -> str:
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            parts.append(f"{where}: unknown key")
        else:
            parts.append(f"{where}: {e['msg']}")
    return f"{source}: " + "; ".join(parts)


def validate(document: dict[str, Any], source: str) -> Strategy:
    try:
        return Strategy.model_validate(document)
    except ValidationError as e:
        raise StrategyError(_message(e, source)) from None


def load_strategy(path: Path | None) -> Strategy:
    """The strategy of ``path`` (None: every default)."""
    if path is None:
        return Strategy()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise StrategyError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise StrategyError(f"{path}: not valid TOML: {e}") from None
    return validate(document, str(path))
