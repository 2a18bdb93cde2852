"""Connector configuration: plain frozen models that never read the environment.

``fundingflow.settings.Settings`` composes :class:`ConnectorSettings` (field ``connectors``), so
API keys arrive only from ``FUNDINGFLOW_CONNECTORS__VENUES__<ID>__API_KEY`` or the secrets dir.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field
from pydantic import SecretStr

from processors.settings import FrozenSettings


class FeeOverride(FrozenSettings):
    """Fee rates (fractions of notional) replacing ccxt's defaults for an account tier."""

    maker: Decimal | None = None
    taker: Decimal | None = None


class VenueSettings(FrozenSettings):
    """One venue account: ccxt id, credentials (secrets only) and per-tier overrides."""

    id: str = ""
    """ccxt exchange id (binance, binanceusdm, okx, bybit, ...) or ``sim``; defaults to the key
    under ``ConnectorSettings.venues`` (so env vars need no ``__ID``)."""

    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    """Passphrase (OKX)."""

    sandbox: bool = False
    options: dict[str, Any] = Field(default_factory=dict)
    """Extra ccxt ``options`` merged over the venue module's defaults."""

    fees: dict[str, FeeOverride] = Field(default_factory=dict)
    """Per ccxt symbol, or ``*`` for every market of the venue."""

    quote: str | None = None
    """Quote currency of the markets traded here (``USDC`` for ``BTC/USDC:USDC``); None: the
    venue module's (USDT unless the venue settles in something else, e.g. hyperliquid)."""

    settle: str | None = None
    """Settlement currency of the linear perps; None: the venue module's, else the quote."""

    def ccxt_credentials(self) -> dict[str, str]:
        """The credential part of a ccxt constructor config (never log it)."""
        out: dict[str, str] = {}
        for name, value in (("apiKey", self.api_key), ("secret", self.secret)):
            if value is not None:
                out[name] = value.get_secret_value()
        if self.password is not None:
            out["password"] = self.password.get_secret_value()
        return out

    def __repr__(self) -> str:  # SecretStr already masks; keep the short form
        return f"VenueSettings(id={self.id!r}, sandbox={self.sandbox})"


class ValidationBounds(FrozenSettings):
    """Limits beyond which a venue payload is refused to the dead-letter topic."""

    max_abs_funding_rate: Decimal = Decimal("0.05")
    """Largest accepted |funding rate| per interval (5 %: above any venue cap)."""

    max_future_skew_ms: int = Field(default=5_000, ge=0)
    """How far an event time may lie ahead of local ingest time."""


class ConnectorSettings(FrozenSettings):
    """Everything the connectors need beyond Kafka and the registry."""

    venues: dict[str, VenueSettings] = Field(default_factory=dict)
    """Accounts by venue id; a venue without an entry runs public-only."""

    bounds: ValidationBounds = ValidationBounds()
    book_depth: int = Field(default=10, ge=1, le=1000)
    book_poll_interval_s: float = Field(default=1.0, gt=0)
    funding_poll_interval_s: float = Field(default=10.0, gt=0)
    funding_interval_max_age_s: float = Field(default=3600.0, gt=0)
    """How long a funding interval learnt from the venue (reported in an earlier poll, its
    interval endpoint, or derived from settlement history) is reused for a poll that lacks it;
    such a record says ``CACHED``. Older than this, it is learnt again or the update refused."""
    trade_poll_interval_s: float = Field(default=2.0, gt=0)
    instrument_refresh_s: float = Field(default=3600.0, gt=0)
    """How often the venue's markets are reloaded; changed instrument facts are re-published."""
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    max_consecutive_failures: int = Field(default=20, ge=1)
    """A stream that fails this many times in a row gives up and fails the feed."""

    def venue(self, venue_id: str) -> VenueSettings:
        found = self.venues.get(venue_id)
        if found is None:
            return VenueSettings(id=venue_id)
        return found if found.id else found.model_copy(update={"id": venue_id})
