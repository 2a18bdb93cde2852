"""BingX (ccxt id ``bingx``): USDT-margined perps (``/openApi/swap/v2``).

``/openApi/swap/v2/quote/premiumIndex`` carries everything a funding update needs: rate,
``fundingIntervalHours``, ``nextFundingTime``, mark and index price. ccxt also loads the spot
and coin-margined symbol lists with the markets.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="bingx",
    options={"defaultType": "swap"},
    funding_interval="reported",
    account="swap",
)
