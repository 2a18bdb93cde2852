"""Kraken Futures (ccxt id ``krakenfutures``): multi-collateral linear perps ``PF_*``, quoted
and settled in USD (``BTC/USD:USD``).

Funding comes from ``/derivatives/api/v3/tickers``: an hourly rate (ccxt turns Kraken's USD
amount into a fraction of the mark price) with no settlement time; settlements are on the hour,
so the next one is the UTC calendar's.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="krakenfutures",
    funding_interval="reported",
    utc_settlement_calendar=True,
    account="futures",
    quote="USD",
)
