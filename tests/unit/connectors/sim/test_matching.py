"""Order matching against the venue's own book: depth walk, TIF, post-only, reduce-only, checks."""

from __future__ import annotations

import pytest
from ccxt.base.errors import DuplicateOrderId
from ccxt.base.errors import InsufficientFunds
from ccxt.base.errors import InvalidOrder
from ccxt.base.errors import OrderImmediatelyFillable

from connectors.sim import SimExchange
from connectors.sim import SimWorld

PERP = "BTC/USDT:USDT"


async def test_market_order_walks_three_levels(binance: SimExchange) -> None:
    asks = (await binance.fetch_order_book(PERP))["asks"]
    (p1, s1), (p2, s2), (p3, s3) = asks[:3]
    third = round(s3 / 2, 3)
    amount = round(s1 + s2 + third, 3)
    order = await binance.create_order(PERP, "market", "buy", amount)
    notional = p1 * s1 + p2 * s2 + p3 * third
    assert order["status"] == "closed"
    assert order["filled"] == amount
    assert order["remaining"] == 0.0
    assert order["average"] == pytest.approx(notional / amount, rel=1e-12)
    assert order["cost"] == pytest.approx(notional, rel=1e-12)
    assert order["fee"]["cost"] == pytest.approx(notional * 0.0005, rel=1e-9)  # binance perp taker
    assert [t["price"] for t in order["trades"]] == [p1, p2, p3]
    assert all(t["takerOrMaker"] == "taker" for t in order["trades"])
    balance = await binance.fetch_balance()
    assert balance["USDT"]["total"] < 1_000_000.0 - notional * 0.0005 + 1.0


async def test_order_timestamp_includes_latency(world: SimWorld, binance: SimExchange) -> None:
    order = await binance.create_order(PERP, "market", "buy", 0.01)
    assert order["timestamp"] == world.now_ms + 20


async def test_fok_not_fillable_is_canceled_without_fill(binance: SimExchange) -> None:
    asks = (await binance.fetch_order_book(PERP))["asks"]
    limit = asks[1][0]  # only two levels are within the limit
    too_much = round(asks[0][1] + asks[1][1] + 0.001, 3)
    order = await binance.create_order(
        PERP, "limit", "buy", too_much, limit, {"timeInForce": "FOK"}
    )
    assert order["status"] == "canceled"
    assert order["filled"] == 0.0
    assert order["trades"] == []
    assert await binance.fetch_positions() == []


async def test_ioc_partial_fill(binance: SimExchange) -> None:
    bids = (await binance.fetch_order_book(PERP))["bids"]
    limit = bids[1][0]
    fillable = round(bids[0][1] + bids[1][1], 3)
    order = await binance.create_order(
        PERP, "limit", "sell", round(fillable + 1.0, 3), limit, {"timeInForce": "IOC"}
    )
    assert order["status"] == "canceled"
    assert order["filled"] == fillable
    assert order["remaining"] == 1.0
    assert await binance.fetch_open_orders(PERP) == []


async def test_post_only_that_would_take_is_rejected(binance: SimExchange) -> None:
    ask = (await binance.fetch_order_book(PERP))["asks"][0][0]
    with pytest.raises(OrderImmediatelyFillable):
        await binance.create_order(PERP, "limit", "buy", 0.01, ask, {"postOnly": True})
    with pytest.raises(InvalidOrder):
        await binance.create_order(PERP, "limit", "buy", 0.01, ask, {"timeInForce": "PO"})
    assert binance.order_log == []


async def test_reduce_only_rejected_when_it_would_increase(binance: SimExchange) -> None:
    with pytest.raises(InvalidOrder, match="reduceOnly"):
        await binance.create_order(PERP, "market", "sell", 0.01, None, {"reduceOnly": True})
    await binance.create_order(PERP, "market", "sell", 0.02)
    with pytest.raises(InvalidOrder, match="reduceOnly"):
        await binance.create_order(PERP, "market", "sell", 0.01, None, {"reduceOnly": True})
    closed = await binance.create_order(PERP, "market", "buy", 0.02, None, {"reduceOnly": True})
    assert closed["filled"] == 0.02
    assert await binance.fetch_positions() == []


async def test_resting_limit_fills_as_maker_when_the_book_crosses(
    world: SimWorld, binance: SimExchange
) -> None:
    bid = (await binance.fetch_order_book(PERP))["bids"][0][0]
    order = await binance.create_order(PERP, "limit", "buy", 0.01, bid, {"clientOrderId": "c1"})
    assert order["status"] == "open"
    assert [o["id"] for o in await binance.fetch_open_orders()] == [order["id"]]
    for _ in range(100_000):
        world.step()
        if (await binance.fetch_order(order["id"]))["status"] == "closed":
            break
    filled = await binance.fetch_order(None, PERP, {"clientOrderId": "c1"})
    assert filled["status"] == "closed"
    assert filled["average"] == bid
    assert filled["trades"][-1]["takerOrMaker"] == "maker"
    assert filled["fee"]["cost"] == pytest.approx(0.01 * bid * 0.0002)


async def test_cancel_releases_the_order(binance: SimExchange) -> None:
    bid = (await binance.fetch_order_book("ETH/USDT"))["bids"][5][0]
    order = await binance.create_order("ETH/USDT", "limit", "buy", 1.0, bid)
    assert (await binance.fetch_balance())["USDT"]["used"] > bid
    canceled = await binance.cancel_order(order["id"], "ETH/USDT")
    assert canceled["status"] == "canceled"
    assert (await binance.fetch_balance())["USDT"]["used"] == 0.0


async def test_size_and_precision_checks(binance: SimExchange) -> None:
    with pytest.raises(InvalidOrder, match="multiple"):
        await binance.create_order(PERP, "market", "buy", 0.0015)
    with pytest.raises(InvalidOrder, match="minimum"):
        await binance.create_order("DOGE/USDT", "market", "buy", 5)
    with pytest.raises(InvalidOrder, match="tick"):
        await binance.create_order(PERP, "limit", "buy", 0.01, 90_000.05)
    with pytest.raises(InvalidOrder):
        await binance.create_order(PERP, "stop", "buy", 0.01, 90_000.0)


async def test_insufficient_funds(binance: SimExchange) -> None:
    with pytest.raises(InsufficientFunds):
        await binance.create_order("BTC/USDT", "market", "sell", 11.0)  # holds 10 BTC
    with pytest.raises(InsufficientFunds):
        await binance.create_order(PERP, "limit", "buy", 60.0, 90_000.0)  # 5.4M notional at 5x


async def test_duplicate_client_order_id_among_open_orders(binance: SimExchange) -> None:
    bid = (await binance.fetch_order_book(PERP))["bids"][10][0]
    await binance.create_order(PERP, "limit", "buy", 0.01, bid, {"clientOrderId": "dup"})
    with pytest.raises(DuplicateOrderId):
        await binance.create_order(PERP, "limit", "buy", 0.01, bid, {"clientOrderId": "dup"})


async def test_contract_size_scales_cost(okx: SimExchange) -> None:
    order = await okx.create_order(PERP, "market", "buy", 10)  # 10 contracts x 0.01 BTC
    assert order["cost"] == pytest.approx(order["average"] * 0.1)
    (position,) = await okx.fetch_positions()
    assert position["contractSize"] == 0.01
    assert position["contracts"] == 10
