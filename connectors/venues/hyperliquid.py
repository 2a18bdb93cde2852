"""Hyperliquid (ccxt id ``hyperliquid``): USDC-margined perps ``<coin>/USDC:USDC``.

Markets and funding both come from ``POST /info {"type": "metaAndAssetCtxs"}``; ccxt reports
the hourly interval and the next top of the hour as the settlement. Spot (``spotMeta``) and
builder-deployed perp dexes (``perpDexs``) are not loaded.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="hyperliquid",
    market_types=("swap",),
    funding_interval="reported",
    account="perp",
    quote="USDC",
)
