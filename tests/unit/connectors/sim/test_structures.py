"""The simulated venue returns ccxt's unified structures, key for key, and raises ccxt's errors."""

from __future__ import annotations

import math
import typing

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import types as ccxt_types
from ccxt.base.errors import BadSymbol
from ccxt.base.exchange import Exchange as CcxtExchange

from connectors.sim import SimExchange
from connectors.sim import SimWorld
from connectors.sim.structures import iso8601

VENUES = ("sim-binance", "sim-okx", "sim-bybit")
ASSETS = ("BTC", "ETH", "SOL", "XRP", "DOGE")


def keys_of(typed_dict: type) -> set[str]:
    return set(typing.get_type_hints(typed_dict))


def test_sim_exchange_is_a_ccxt_async_exchange(binance: SimExchange) -> None:
    assert isinstance(binance, ccxt_async.Exchange)
    assert binance.id == "sim-binance"
    for capability in ("fetchFundingRate", "watchOrderBook", "createOrder", "fetchPositions"):
        assert binance.has[capability] is True


async def test_markets_follow_ccxt_market_structure(world: SimWorld) -> None:
    clean_keys = set(CcxtExchange().safe_market_structure())
    for venue in VENUES:
        ex = world.exchange(venue)
        markets = await ex.load_markets()
        for asset in ASSETS:
            spot, swap = markets[f"{asset}/USDT"], markets[f"{asset}/USDT:USDT"]
            assert clean_keys <= set(spot)
            assert clean_keys <= set(swap)
            assert spot["spot"]
            assert spot["contract"] is False
            assert spot["type"] == "spot"
            assert swap["swap"]
            assert swap["linear"]
            assert swap["settle"] == "USDT"
            assert swap["contractSize"] > 0
            assert swap["precision"]["amount"] > 0
            assert 0 < swap["maker"] < swap["taker"]
    assert (await world.exchange("sim-okx").load_markets())["BTC/USDT:USDT"]["contractSize"] == 0.01
    assert world.exchange("sim-okx").market("BTC/USDT:USDT")["id"] == "BTC-USDT-SWAP"


async def test_funding_intervals_differ_by_venue_and_asset(world: SimWorld) -> None:
    intervals = set()
    for venue in VENUES:
        ex = world.exchange(venue)
        for asset in ASSETS:
            fi = await ex.fetch_funding_interval(f"{asset}/USDT:USDT")
            intervals.add(fi["interval"])
    assert intervals == {"1h", "4h", "8h"}


async def test_order_book_structure(binance: SimExchange) -> None:
    ob = await binance.fetch_order_book("BTC/USDT:USDT")
    assert set(ob) == keys_of(ccxt_types.OrderBook)
    assert len(ob["bids"]) == len(ob["asks"]) == 20
    assert ob["bids"][0][0] < ob["asks"][0][0]
    assert all(a[0] < b[0] for a, b in zip(ob["asks"], ob["asks"][1:], strict=False))
    assert all(a[0] > b[0] for a, b in zip(ob["bids"], ob["bids"][1:], strict=False))
    assert ob["bids"][-1][1] > ob["bids"][0][1] * 0.5  # depth grows with distance (noisy)
    assert ob["datetime"] == CcxtExchange.iso8601(ob["timestamp"])
    assert isinstance(ob["nonce"], int)
    assert len((await binance.fetch_order_book("BTC/USDT", 5))["asks"]) == 5


async def test_funding_rate_structure(binance: SimExchange) -> None:
    fr = await binance.fetch_funding_rate("SOL/USDT:USDT")
    assert set(fr) == keys_of(ccxt_types.FundingRate)
    assert fr["interval"] == "4h"
    assert fr["fundingTimestamp"] > fr["timestamp"]
    assert fr["nextFundingTimestamp"] - fr["fundingTimestamp"] == 4 * 3_600_000
    assert isinstance(fr["fundingRate"], float)
    assert math.isfinite(fr["markPrice"])
    rates = await binance.fetch_funding_rates()
    assert set(rates) == {f"{a}/USDT:USDT" for a in ASSETS}
    with pytest.raises(BadSymbol):
        await binance.fetch_funding_rate("BTC/USDT")
    with pytest.raises(BadSymbol):
        await binance.fetch_order_book("NOPE/USDT")


async def test_trade_balance_and_history_structures(world: SimWorld, binance: SimExchange) -> None:
    world.run_for(120_000)  # two minutes: some trades
    trades = await binance.fetch_trades("ETH/USDT", limit=5)
    assert len(trades) == 5
    assert keys_of(ccxt_types.Trade) <= set(trades[0])
    balance = await binance.fetch_balance()
    assert balance["USDT"]["total"] == balance["total"]["USDT"] == 1_000_000.0
    safe = CcxtExchange().safe_balance({k: v for k, v in balance.items()})
    assert safe["free"]["BTC"] == 10.0


async def test_order_and_position_structures(binance: SimExchange) -> None:
    order = await binance.create_order("BTC/USDT:USDT", "market", "sell", 0.5)
    assert set(order) == keys_of(ccxt_types.Order)
    assert order["status"] == "closed"
    assert order["filled"] == 0.5
    assert set(order["trades"][0]) >= keys_of(ccxt_types.Trade)
    parsed = CcxtExchange().safe_order(dict(order))  # ccxt's own post-processing accepts it
    assert parsed["remaining"] == 0.0
    (position,) = await binance.fetch_positions(["BTC/USDT:USDT"])
    assert set(position) == keys_of(ccxt_types.Position)
    assert position["side"] == "short"
    assert position["contracts"] == 0.5


def test_iso8601_matches_ccxt() -> None:
    for ms in (0, 1_767_225_600_000, 1_767_225_600_123, 1_767_229_199_999):
        assert iso8601(ms) == CcxtExchange.iso8601(ms)
