"""Build exchanges and venues from settings: ccxt.pro where it has the id, else async_support."""

from __future__ import annotations

from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.venues import profile_for

SIM = "sim"


def known_venue_ids() -> frozenset[str]:
    """Every ccxt exchange id plus ``sim``."""
    return frozenset(ccxt.exchanges) | {SIM}


def create_exchange(
    venue_id: str,
    settings: ConnectorSettings,
    *,
    use_pro: bool = True,
) -> Any:
    """A configured ccxt exchange (rate limiter on, ccxt retries off)."""
    if venue_id not in ccxt.exchanges:
        raise ValueError(f"unknown venue {venue_id!r}: not a ccxt exchange id nor 'sim'")
    venue = settings.venue(venue_id)
    profile = profile_for(venue_id)
    module: Any = ccxt_async
    if use_pro:
        import ccxt.pro as ccxt_pro

        if hasattr(ccxt_pro, venue_id):
            module = ccxt_pro
    options = {**profile.ccxt_options(), "maxRetriesOnFailure": 0, **venue.options}
    exchange = getattr(module, venue_id)(
        {"enableRateLimit": True, "options": options, **venue.ccxt_credentials()}
    )
    if venue.sandbox:
        exchange.set_sandbox_mode(True)
    return exchange


def create_venues(
    venue_id: str,
    settings: ConnectorSettings,
    *,
    use_pro: bool = True,
    seed: int | None = None,
    speed: str = "max",
    sim_epoch_ms: int | None = None,
) -> list[CcxtVenue]:
    """The venues behind one configured id: one ccxt venue, or every venue of the sim world
    (``sim-binance``, ``sim-okx``, ``sim-bybit``) sharing one seeded market and clock."""
    if venue_id == SIM:
        from connectors.sim.world import build_sim_exchanges

        overrides: dict[str, Any] = {} if sim_epoch_ms is None else {"epoch_ms": sim_epoch_ms}
        exchanges = build_sim_exchanges(seed if seed is not None else 0, speed, **overrides)
        return [
            CcxtVenue(ex, venue_id=vid, settings=settings, profile=profile_for(SIM))
            for vid, ex in sorted(exchanges.items())
        ]
    exchange = create_exchange(venue_id, settings, use_pro=use_pro)
    return [CcxtVenue(exchange, venue_id=venue_id, settings=settings)]
