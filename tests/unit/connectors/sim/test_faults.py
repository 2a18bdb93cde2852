"""Fault hooks: each raises ccxt's own exception and leaves the venue in the documented state."""

from __future__ import annotations

import pytest
from ccxt.base.errors import ExchangeNotAvailable
from ccxt.base.errors import InvalidOrder
from ccxt.base.errors import NetworkError
from ccxt.base.errors import OrderNotFound
from ccxt.base.errors import RateLimitExceeded
from ccxt.base.errors import RequestTimeout

from connectors.sim import SimExchange
from connectors.sim import SimRateLimitExceeded
from connectors.sim import SimWorld

PERP = "ETH/USDT:USDT"


async def test_reject_next_orders(binance: SimExchange) -> None:
    binance.faults.reject_next_orders(2)
    for _ in range(2):
        with pytest.raises(InvalidOrder):
            await binance.create_order(PERP, "market", "buy", 0.1)
    assert binance.order_log == []
    assert (await binance.create_order(PERP, "market", "buy", 0.1))["status"] == "closed"
    assert binance.faults.counts["rejected"] == 2


async def test_accept_then_drop_response(binance: SimExchange) -> None:
    binance.faults.drop_next_responses(1)
    with pytest.raises(RequestTimeout):
        await binance.create_order(PERP, "market", "buy", 0.1, None, {"clientOrderId": "x1"})
    assert [o["clientOrderId"] for o in binance.order_log] == ["x1"]  # the venue has it
    found = await binance.fetch_order(None, PERP, {"clientOrderId": "x1"})
    assert found["status"] == "closed"
    assert found["filled"] == 0.1
    assert (await binance.fetch_positions())[0]["contracts"] == 0.1


async def test_hidden_order_not_found_for_a_while(world: SimWorld, binance: SimExchange) -> None:
    binance.faults.hide_next_orders(1, duration_ms=30_000)
    bid = (await binance.fetch_order_book(PERP))["bids"][10][0]
    order = await binance.create_order(PERP, "limit", "buy", 0.1, bid, {"clientOrderId": "h1"})
    with pytest.raises(OrderNotFound):
        await binance.fetch_order(order["id"], PERP)
    assert await binance.fetch_open_orders() == []
    world.run_for(29_000)
    with pytest.raises(OrderNotFound):
        await binance.fetch_order(None, PERP, {"clientOrderId": "h1"})
    world.run_for(1_000)
    assert (await binance.fetch_order(order["id"], PERP))["clientOrderId"] == "h1"


async def test_rate_limit_with_retry_after(world: SimWorld, binance: SimExchange) -> None:
    binance.faults.rate_limit_next(1, retry_after_ms=2_000)
    with pytest.raises(RateLimitExceeded) as info:
        await binance.fetch_balance()
    assert isinstance(info.value, SimRateLimitExceeded)
    assert info.value.retry_after_ms == 2_000
    assert "Retry-After: 2000 ms" in str(info.value)
    with pytest.raises(RateLimitExceeded):  # calling inside the window is punished and counted
        await binance.fetch_order_book(PERP)
    assert binance.faults.counts["request_in_retry_window"] == 1
    world.run_for(2_000)
    await binance.fetch_balance()


async def test_request_budget(binance: SimExchange) -> None:
    binance.faults.set_request_budget(3, window_ms=10_000, retry_after_ms=10_000)
    for _ in range(3):
        await binance.fetch_balance()
    with pytest.raises(RateLimitExceeded):
        await binance.fetch_balance()


async def test_5xx_only_on_chosen_methods(binance: SimExchange) -> None:
    binance.faults.unavailable_next(1, methods={"create_order"})
    await binance.fetch_balance()
    with pytest.raises(ExchangeNotAvailable) as info:
        await binance.create_order(PERP, "market", "buy", 0.1)
    assert isinstance(info.value, NetworkError)  # ccxt's retryable family
    assert binance.order_log == []


async def _drops(seed: int) -> list[int]:
    world = SimWorld.create(seed=seed, malformed={"rate": 0.0})
    ex = world.exchange("sim-okx")
    await ex.load_markets()
    ex.faults.drop_response_rate = 0.1
    dropped = []
    for i in range(200):
        try:
            await ex.create_order("DOGE/USDT:USDT", "market", "buy", 1)
        except RequestTimeout:
            dropped.append(i)
    assert len(ex.order_log) == 200  # every dropped response was still an accepted order
    assert len(dropped) == ex.faults.counts["dropped_response"]
    return dropped


async def test_probabilistic_faults_are_seeded() -> None:
    dropped = await _drops(9)
    assert 5 < len(dropped) < 40
    assert dropped == await _drops(9)
    assert dropped != await _drops(10)


async def test_stalled_stream(world: SimWorld, binance: SimExchange) -> None:
    first = await binance.watch_order_book(PERP)
    binance.faults.stall_streams(world.now_ms, 60_000)
    start = world.now_ms
    book = await binance.watch_order_book(PERP)
    assert world.now_ms - start >= 60_000  # nothing was delivered during the stall
    assert book["timestamp"] >= start + 60_000
    assert book["nonce"] != first["nonce"]
    assert (await binance.fetch_order_book(PERP))["timestamp"] == book["timestamp"]


async def test_clock_skew(world: SimWorld, binance: SimExchange) -> None:
    binance.faults.set_clock_skew(6_000)
    assert await binance.fetch_time() == world.now_ms + 6_000
    assert binance.milliseconds() == world.now_ms  # the local clock is not skewed
    ob = await binance.fetch_order_book(PERP)
    assert ob["timestamp"] == world.model.books[("sim-binance", PERP)].ts + 6_000
    order = await binance.create_order(PERP, "market", "buy", 0.1)
    assert order["timestamp"] == world.now_ms + 20 + 6_000
