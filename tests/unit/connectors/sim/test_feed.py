"""The market feed: determinism, watch semantics, stale venue, malformed payloads, clock pacing."""

from __future__ import annotations

import json
from typing import Any

from connectors.sim import SimClock
from connectors.sim import SimWorld
from connectors.sim import build_sim_exchanges
from connectors.sim import load_scenario
from connectors.sim import standalone_exchange


async def _dump(seed: int, steps: int) -> str:
    """Every structure the venues emit over ``steps`` steps, as canonical JSON."""
    world = SimWorld.create(seed=seed, malformed={"rate": 0.05})
    out: list[Any] = []
    for ex in world.exchanges.values():
        await ex.load_markets()
    await world.exchange("sim-bybit").create_order("BTC/USDT:USDT", "market", "sell", 0.5)
    for _ in range(steps):
        for change in world.step():
            ex = world.exchange(change.venue)
            if change.kind == "book":
                out.append(await ex.fetch_order_book(change.symbol))
            elif change.kind == "trade":
                out.append(await ex.fetch_trades(change.symbol, limit=1))
            else:
                out.append(await ex.fetch_funding_rate(change.symbol))
    for ex in world.exchanges.values():
        out.append(await ex.fetch_balance())
        out.append(await ex.fetch_positions())
    return json.dumps(out, sort_keys=True, default=str)


async def test_same_seed_is_byte_identical_and_other_seeds_differ() -> None:
    first = await _dump(1234, 120)
    assert len(first) > 100_000
    assert first == await _dump(1234, 120)
    assert first != await _dump(1235, 120)


async def test_iter_market_events_reports_changes(world: SimWorld) -> None:
    changes = list(world.iter_market_events(10))
    assert world.now_ms == world.scenario.epoch_ms + 10_000
    kinds = {c.kind for c in changes}
    assert {"book", "trade", "funding"} <= kinds
    assert {c.venue for c in changes} == {"sim-binance", "sim-okx", "sim-bybit"}


async def test_watch_order_book_returns_each_new_update(world: SimWorld) -> None:
    ex = world.exchange("sim-bybit")
    await ex.load_markets()
    nonces, stamps = [], []
    for _ in range(20):
        ob = await ex.watch_order_book("XRP/USDT:USDT")
        nonces.append(ob["nonce"])
        stamps.append(ob["timestamp"])
    assert nonces == list(range(nonces[0], nonces[0] + 20))  # no malformed nonce in this world
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 20
    trades = await ex.watch_trades("XRP/USDT:USDT")
    newer = await ex.watch_trades("XRP/USDT:USDT")
    assert int(newer[0]["id"]) > int(trades[-1]["id"])


async def test_stale_venue_stops_updating(world: SimWorld) -> None:
    okx, binance = world.exchange("sim-okx"), world.exchange("sim-binance")
    world.run_for(7_800_000 + 1_000)  # okx goes stale at 2h10m for 8 minutes
    stale_ts = (await okx.fetch_order_book("BTC/USDT"))["timestamp"]
    world.run_for(400_000)
    assert (await okx.fetch_order_book("BTC/USDT"))["timestamp"] == stale_ts
    assert (await okx.fetch_funding_rate("BTC/USDT:USDT"))["timestamp"] <= stale_ts
    assert (await binance.fetch_order_book("BTC/USDT"))["timestamp"] > stale_ts + 390_000
    world.run_for(100_000)
    assert (await okx.fetch_order_book("BTC/USDT"))["timestamp"] > stale_ts + 480_000


async def test_malformed_payloads_are_tagged_and_counted() -> None:
    world = SimWorld.create(seed=8, malformed={"rate": 0.02})
    for ex in world.exchanges.values():
        await ex.load_markets()
    seen: dict[str, int] = {}
    for _ in range(400):
        for change in world.step():
            ex = world.exchange(change.venue)
            if change.kind == "book":
                ob = await ex.fetch_order_book(change.symbol)
                kind = world.model.books[(change.venue, change.symbol)].malformed
                if kind is not None:
                    seen[f"book:{kind}"] = seen.get(f"book:{kind}", 0) + 1
                    assert _book_is_bad(ob, kind)
            elif change.kind == "funding":
                await ex.fetch_funding_rate(change.symbol)
    emitted: dict[str, int] = {}
    for ex in world.exchanges.values():
        for key, n in ex.emitted.items():
            emitted[key] = emitted.get(key, 0) + n
    book_emitted = {k: v for k, v in emitted.items() if k.startswith("book:")}
    assert book_emitted == seen
    assert {k: v for k, v in world.model.injected.items() if k.startswith("book:")} == seen
    funding_injected = {k: v for k, v in world.model.injected.items() if k.startswith("funding:")}
    assert funding_injected == {k: v for k, v in emitted.items() if k.startswith("funding:")}
    assert len({k for k in world.model.injected if k.startswith("book:")}) >= 8


def _book_is_bad(ob: dict[str, Any], kind: str) -> bool:
    if kind in ("out_of_order_nonce", "duplicated_nonce", "nonce_gap"):
        return True  # visible only against the previous nonce
    if kind == "empty_book":
        return not ob["bids"] and not ob["asks"]
    if kind == "unknown_symbol":
        return str(ob["symbol"]).startswith("ZZZ/")
    if kind == "future_timestamp":
        return True
    levels = ob["bids"][:1] + ob["asks"][:1]
    numbers_ok = all(isinstance(x, float) and x == x and x > 0 for lv in levels for x in lv)
    return not numbers_ok or ob["bids"][0][0] >= ob["asks"][0][0]


async def test_realtime_speed_paces_against_the_real_clock() -> None:
    slept: list[float] = []
    real = [100.0]

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        real[0] += seconds

    scenario = load_scenario(malformed={"rate": 0.0})
    clock = SimClock(scenario.epoch_ms, "10x", monotonic=lambda: real[0], sleep=fake_sleep)
    world = SimWorld(scenario, seed=1, clock=clock)
    for _ in range(5):
        await world.advance()
    assert world.now_ms == scenario.epoch_ms + 5_000
    assert sum(slept) == 0.5  # 5 s of sim time at 10x


async def test_build_sim_exchanges_shares_one_world() -> None:
    exchanges = build_sim_exchanges(seed=3, speed="max")
    assert sorted(exchanges) == ["sim-binance", "sim-bybit", "sim-okx"]
    worlds = {id(ex.world) for ex in exchanges.values()}
    assert len(worlds) == 1
    for ex in exchanges.values():
        await ex.close()


async def test_standalone_exchange_from_a_ccxt_style_config() -> None:
    ex = standalone_exchange({"seed": 4, "speed": "max", "venue": "sim-okx"})
    assert ex.id == "sim-okx"
    assert isinstance(ex.world, SimWorld)
    assert ex.world.exchanges == {"sim-okx": ex}
    await ex.load_markets()
    start = ex.milliseconds()
    await ex.sleep(5_000)  # sim time: the world advances, nothing really sleeps
    assert ex.milliseconds() == start + 5_000
    default = standalone_exchange({"seed": 4})
    assert default.id == "sim-binance"


async def test_watch_delivers_every_update_in_order_even_when_others_advance(
    world: SimWorld,
) -> None:
    ex = world.exchange("sim-binance")
    await ex.load_markets()
    first = await ex.watch_order_book("SOL/USDT")
    world.run_for(30_000)  # another driver moves the world 30 steps meanwhile
    nonces = [(await ex.watch_order_book("SOL/USDT"))["nonce"] for _ in range(40)]
    assert nonces == list(range(first["nonce"] + 1, first["nonce"] + 41))
    world.run_for(400_000)  # falls further behind than the kept history: jumps to the latest
    latest = world.model.books[("sim-binance", "SOL/USDT")].nonce
    assert (await ex.watch_order_book("SOL/USDT"))["nonce"] == latest
