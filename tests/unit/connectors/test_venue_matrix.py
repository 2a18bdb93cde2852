"""The venue matrix: every ccxt venue with a module, through ccxt's own parsers on documented
payloads (HTTP stubbed): its BTC perp is in the universe in the venue's currencies, its funding
is a typed record with the interval and provenance the venue gives, its book is in base units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.ccxt_venue import CcxtVenue
from connectors.instruments import select
from connectors.instruments import venue_currencies
from connectors.venues import profile_for
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingFactSource as Src
from schemas.records.md import FundingRateUpdate
from tests.unit.connectors.http_stub import exchange

NOW = 1_717_000_001_000
HOUR = 3_600_000
VENUE = Src.FUNDING_ENDPOINT
OTHER = Src.OTHER_ENDPOINT
CALENDAR = Src.SETTLEMENT_CALENDAR

# venue, BTC perp, rate per interval, interval (h), interval from, next settlement from, mark from
MATRIX = [
    ("binanceusdm", "BTC/USDT:USDT", "0.0001", 8, Src.SETTLEMENT_HISTORY, VENUE, VENUE),
    ("okx", "BTC/USDT:USDT", "0.00008", 8, VENUE, VENUE, OTHER),
    ("bybit", "BTC/USDT:USDT", "0.0001", 8, VENUE, VENUE, VENUE),
    ("gate", "BTC/USDT:USDT", "0.0001", 8, VENUE, VENUE, VENUE),
    ("bitget", "BTC/USDT:USDT", "0.000087", 8, OTHER, CALENDAR, VENUE),
    ("mexc", "BTC/USDT:USDT", "0.000082", 8, VENUE, VENUE, OTHER),
    ("hyperliquid", "BTC/USDC:USDC", "0.0000125", 1, VENUE, VENUE, VENUE),
    ("krakenfutures", "BTC/USD:USD", "0.000012514699936039", 1, VENUE, CALENDAR, VENUE),
    ("kucoinfutures", "BTC/USDT:USDT", "0.000091", 8, VENUE, VENUE, OTHER),
    ("bingx", "BTC/USDT:USDT", "0.000103", 8, VENUE, VENUE, VENUE),
    ("aster", "BTC/USDT:USDT", "0.0001", 8, OTHER, VENUE, VENUE),
]
IDS = [row[0] for row in MATRIX]


async def _venue(venue_id: str) -> CcxtVenue:
    v = CcxtVenue(exchange(venue_id), clock=lambda: NOW)
    await v.load_instruments()
    return v


@pytest.mark.parametrize(("venue_id", "symbol"), [row[:2] for row in MATRIX], ids=IDS)
async def test_the_btc_perp_is_in_the_universe(venue_id: str, symbol: str) -> None:
    v = await _venue(venue_id)
    await v.close()
    found = select(v._instruments.values(), ["BTC"], venue_currencies(v.id, v.settings))
    perps = [i for i in found if i.is_perp]
    assert [p.symbol for p in perps] == [symbol]
    assert perps[0].contract_size_base > 0
    assert perps[0].price_increment is not None
    assert perps[0].taker_fee is not None


@pytest.mark.parametrize(
    ("venue_id", "symbol", "rate", "hours", "interval_from", "next_from", "mark_from"),
    MATRIX,
    ids=IDS,
)
async def test_funding_with_interval_and_provenance(
    venue_id: str,
    symbol: str,
    rate: str,
    hours: int,
    interval_from: Src,
    next_from: Src,
    mark_from: Src,
) -> None:
    v = await _venue(venue_id)
    try:
        items = await v.fetch_funding_rates([symbol])
    finally:
        await v.close()
    assert len(items) == 1
    (fr,) = items
    assert isinstance(fr, FundingRateUpdate), fr
    assert fr.instrument.symbol == symbol
    assert fr.funding_rate == Decimal(rate)
    assert fr.funding_interval_ms == hours * HOUR
    assert fr.mark_price > 0
    assert (fr.funding_interval_source, fr.next_funding_time_source, fr.mark_price_source) == (
        interval_from,
        next_from,
        mark_from,
    )
    if next_from is CALENDAR:
        assert fr.next_funding_time_ms % fr.funding_interval_ms == 0
        assert 0 < fr.next_funding_time_ms - fr.envelope.event_time_ms <= fr.funding_interval_ms


@pytest.mark.parametrize(("venue_id", "symbol"), [row[:2] for row in MATRIX], ids=IDS)
async def test_the_btc_perp_book_is_typed_in_base_units(venue_id: str, symbol: str) -> None:
    v = await _venue(venue_id)
    try:
        book = await v.fetch_order_book(symbol, 3)
    finally:
        await v.close()
    assert isinstance(book, BookSnapshot)
    bids, asks = bid_levels(book), ask_levels(book)
    assert 0 < len(bids) <= 3
    assert 0 < len(asks) <= 3
    assert bids[0].price < asks[0].price
    assert all(lv.size_base > 0 for lv in (*bids, *asks))
    assert Decimal(60_000) < bids[0].price < Decimal(70_000)
    assert book.envelope.event_time_ms <= NOW


def test_a_venue_serving_fixed_depths_is_asked_for_the_smallest_that_covers() -> None:
    kucoin = profile_for("kucoinfutures")
    assert [kucoin.book_limit(d) for d in (3, 20, 21, 100, 500)] == [20, 20, 100, 100, 100]
    assert profile_for("bybit").book_limit(7) == 7
