"""OKX (ccxt id ``okx``): spot and USDT-margined swaps.

Quirks:
- ``/api/v5/public/funding-rate`` has no mark or index price: they are filled from
  ``/api/v5/public/mark-price`` (ccxt ``fetchMarkPrice``) and ``/api/v5/market/index-tickers``.
- the interval is reported (ccxt derives it from ``fundingTime`` → ``nextFundingTime``);
  ``fetchFundingInterval`` is the fallback.
- swap sizes are in contracts (``ctVal``): the base class multiplies by contract size.
"""

from __future__ import annotations

from typing import Any

from connectors.venues.profile import VenueProfile


async def enrich_funding(exchange: Any, funding_rate: dict[str, Any]) -> dict[str, Any]:
    """Fill ``markPrice`` and ``indexPrice`` when the funding endpoint lacks them."""
    symbol = funding_rate.get("symbol")
    if symbol is None:
        return funding_rate
    out = dict(funding_rate)
    if out.get("markPrice") is None:
        mark = await exchange.fetch_mark_price(symbol)
        out["markPrice"] = mark.get("markPrice")
    if out.get("indexPrice") is None:
        market = exchange.market(symbol)
        index_id = f"{market['baseId']}-{market['quoteId']}"
        response = await exchange.publicGetMarketIndexTickers({"instId": index_id})
        rows = response.get("data") or [{}]
        out["indexPrice"] = exchange.safe_number(rows[0], "idxPx")
    return out


PROFILE = VenueProfile(
    ccxt_id="okx",
    market_types=("spot", "swap"),
    funding_interval="fetch_interval",
    contiguous_book_nonce=False,  # seqId links by prevSeqId, not +1
    account="trading",
    enrich_funding=enrich_funding,
)
