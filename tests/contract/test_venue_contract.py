"""One contract, every venue: the simulated venue and the ccxt venues (HTTP stubbed with
documented payloads) answer the Venue protocol with the same kinds of records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from connectors.ccxt_venue import CcxtVenue
from connectors.instruments import select
from connectors.venue import Instrument
from connectors.venue import Rejected
from connectors.venue import Venue
from connectors.venues import profile_for
from schemas.fixed_point import ask_levels
from schemas.fixed_point import bid_levels
from schemas.records.common import MarketType
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from tests.unit.connectors.http_stub import STUBBED_VENUES
from tests.unit.connectors.http_stub import exchange

NOW = 1_717_000_001_000
VENUES = ("sim", *STUBBED_VENUES)


@pytest.fixture(params=VENUES)
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[CcxtVenue]:
    if request.param == "sim":
        from connectors.sim.world import build_sim_exchanges

        exchanges = build_sim_exchanges(seed=11)
        v = CcxtVenue(exchanges["sim-okx"], venue_id="sim-okx", profile=profile_for("sim"))
        v.exchange.world.run_for(60_000)  # a minute of market: trades exist
        for other in exchanges.values():
            if other is not v.exchange:
                await other.close()
    else:
        v = CcxtVenue(exchange(request.param), clock=lambda: NOW)
    await v.load_instruments()
    yield v
    await v.close()


def btc(v: CcxtVenue) -> list[Instrument]:
    return select(v._instruments.values(), ["BTC"])


async def test_is_a_venue(venue: CcxtVenue) -> None:
    assert isinstance(venue, Venue)


async def test_instruments_carry_metadata(venue: CcxtVenue) -> None:
    found = btc(venue)
    assert found, "every venue lists BTC/USDT spot or the BTC/USDT:USDT perp"
    for ins in found:
        assert ins.exchange == venue.id
        assert ins.market_type in (MarketType.SPOT, MarketType.PERP)
        assert ins.symbol == ("BTC/USDT:USDT" if ins.is_perp else "BTC/USDT")
        assert ins.contract_size_base > 0
        assert ins.price_increment is not None
        assert ins.price_increment > 0
        assert ins.taker_fee is not None


async def test_order_book_is_valid_and_typed(venue: CcxtVenue) -> None:
    for ins in btc(venue):
        book = await venue.fetch_order_book(ins.symbol, 3)
        assert isinstance(book, BookSnapshot)
        assert book.instrument == ins.ref
        assert 0 < len(bid_levels(book)) <= 3
        assert 0 < len(ask_levels(book)) <= 3
        assert [lv.price for lv in bid_levels(book)] == sorted(
            (lv.price for lv in bid_levels(book)), reverse=True
        )
        assert [lv.price for lv in ask_levels(book)] == sorted(lv.price for lv in ask_levels(book))
        assert bid_levels(book)[0].price < ask_levels(book)[0].price
        assert all(lv.size_base > 0 for lv in (*bid_levels(book), *ask_levels(book)))
        assert book.envelope.ingest_time_ms >= book.envelope.event_time_ms - 5_000


async def test_funding_of_perps_travels_with_its_interval(venue: CcxtVenue) -> None:
    perps = [i.symbol for i in btc(venue) if i.is_perp]
    if not perps:
        pytest.skip(f"{venue.id} lists no perps (spot venue)")
    items = await venue.fetch_funding_rates(perps)
    updates = [i for i in items if isinstance(i, FundingRateUpdate)]
    assert [u.instrument.symbol for u in updates] == perps
    for u in updates:
        assert u.funding_interval_ms > 0
        assert u.funding_interval_ms % 60_000 == 0  # any whole number of minutes
        assert abs(u.funding_rate) <= Decimal("0.05")
        assert u.next_funding_time_ms > 0
        assert u.mark_price > 0
        assert u.index_price is None or u.index_price > 0
        interval = await venue.fetch_funding_interval(u.instrument.symbol)
        assert interval.interval_ms == u.funding_interval_ms


async def test_trades_are_typed(venue: CcxtVenue) -> None:
    ins = sorted(btc(venue), key=lambda i: not i.is_perp)[0]
    items = await venue.fetch_trades(ins.symbol)
    trades = [t for t in items if isinstance(t, Trade)]
    assert trades
    assert all(isinstance(t, Trade | Rejected) for t in items)
    assert all(t.price > 0 and t.size_base > 0 for t in trades)
    assert {t.instrument.symbol for t in trades} == {ins.symbol}


async def test_book_stream_yields_records_or_refusals(venue: CcxtVenue) -> None:
    ins = btc(venue)[0]
    stream = venue.stream_order_book(ins.symbol, 3)
    item = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]  # an async generator
    assert isinstance(item, BookSnapshot | Rejected)
