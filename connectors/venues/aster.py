"""Aster (ccxt id ``aster``): USDT-margined perps on the Binance-style ``/fapi/v3`` API.

``/fapi/v3/premiumIndex`` has rate, mark, index and next settlement but no interval; the interval
comes from ``/fapi/v3/fundingInfo`` (ccxt ``fetchFundingIntervals``, ``fundingIntervalHours``).
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="aster",
    funding_interval="fetch_intervals",
    account="futures",
)
