"""Binance USDⓈ-M futures (ccxt id ``binanceusdm``).

Funding interval: /fapi/v1/premiumIndex does not carry it; /fapi/v1/fundingInfo
(``fetchFundingIntervals``) lists only symbols whose interval or cap was adjusted, so any other
symbol's interval is derived from /fapi/v1/fundingRate history — never assumed to be 8h.
"""

from __future__ import annotations

from connectors.venues.profile import VenueProfile

PROFILE = VenueProfile(
    ccxt_id="binanceusdm",
    market_types=("linear",),
    funding_interval="fetch_intervals",
    # The diff-depth stream links updates by pu == previous u; ccxt checks that link itself,
    # and u is not contiguous, so no gap check on nonces here.
    contiguous_book_nonce=False,
    account="usdm",
)
