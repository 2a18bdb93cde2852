"""Per-venue facts and quirks, one small module per ccxt id; the registry of them.

A venue without a module runs on a generic profile (any ccxt id can be configured). The
modules import :mod:`connectors.venues.profile`, never this registry.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

__all__ = ["VenueProfile", "profile_for", "profiles"]


def profiles() -> dict[str, VenueProfile]:
    """Every venue with a module, by ccxt id."""
    from connectors.venues import aster
    from connectors.venues import binance
    from connectors.venues import binanceusdm
    from connectors.venues import bingx
    from connectors.venues import bitget
    from connectors.venues import bybit
    from connectors.venues import gate
    from connectors.venues import hyperliquid
    from connectors.venues import krakenfutures
    from connectors.venues import kucoinfutures
    from connectors.venues import mexc
    from connectors.venues import okx
    from connectors.venues import sim

    return {
        m.PROFILE.ccxt_id: m.PROFILE
        for m in (
            aster,
            binance,
            binanceusdm,
            bingx,
            bitget,
            bybit,
            gate,
            hyperliquid,
            krakenfutures,
            kucoinfutures,
            mexc,
            okx,
            sim,
        )
    }


def profile_for(venue_id: str) -> VenueProfile:
    """The venue's profile, or the generic one for any other ccxt id."""
    found = profiles().get(venue_id)
    if found is not None:
        return found
    return VenueProfile(ccxt_id=venue_id, funding_interval="history")
