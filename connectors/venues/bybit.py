"""Bybit v5 (ccxt id ``bybit``): spot and linear perps.

The funding interval comes with the market (instruments-info ``fundingInterval``, minutes),
which ccxt copies into the funding structure's ``interval``. Orderbook ``u`` increments by one
per update on the websocket stream.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="bybit",
    market_types=("spot", "linear"),
    options={"defaultType": "swap", "defaultSubType": "linear"},
    funding_interval="reported",
    contiguous_book_nonce=True,
    account="unified",
)
