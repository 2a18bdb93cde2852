"""Binance spot (ccxt id ``binance``): spot markets only; no funding (spot has none)."""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="binance",
    market_types=("spot",),
    # /api/v3/depth carries lastUpdateId (ccxt nonce) but no time: event time = ingest time.
    account="spot",
)
