"""Bitget (ccxt id ``bitget``): USDT-margined perps (``/api/v2/mix``).

ccxt's ``fetchFundingRates`` reads ``/api/v2/mix/market/tickers``: rate, mark and index price,
but neither the interval nor the next settlement time. The interval comes from
``/api/v2/mix/market/current-fund-rate`` (``fetchFundingIntervals``, every symbol in one call,
``fundingRateInterval`` in hours); settlements fall every interval from 00:00 UTC, so the next
one is the calendar's.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="bitget",
    market_types=("swap",),
    options={"defaultType": "swap", "defaultSubType": "linear"},
    funding_interval="fetch_intervals",
    utc_settlement_calendar=True,
    account="futures",
)
