"""KuCoin Futures (ccxt id ``kucoinfutures``): USDT-margined perps ``XBTUSDTM`` and the like.

The funding endpoint gives the rate, ``currentGranularity`` (interval, ms) and ``fundingTime``
but no mark or index price; both come from ``/api/v1/mark-price/{symbol}/current`` (ccxt
``fetchMarkPrice``, every profile's default filler). Sizes are lots of ``multiplier`` base
units. The order book is served 20 or 100 levels deep only.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="kucoinfutures",
    market_types=("swap",),
    funding_interval="reported",
    account="futures",
    book_limits=(20, 100),
)
