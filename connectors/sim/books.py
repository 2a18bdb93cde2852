"""Order books built around a mid price: tick-aligned levels, depth growing with distance.

A book is a pure function of (market spec, mid, noise seed), so it is built only when someone reads
it and is identical every time it is rebuilt. Level sizes get multiplicative noise from a 31-bit LCG
seeded per update (cheaper than a ``random.Random`` per book, and just as deterministic).
"""

from __future__ import annotations

import math

from connectors.sim.scenario import MarketSpec

LCG_MASK = 0x7FFFFFFF  # the classic 31-bit LCG: small ints keep it fast in pure Python
LCG_A = 1103515245
LCG_C = 12345
LCG_SCALE = 1.0 / (1 << 31)
SIZE_GROWTH = 0.35  # each level further from mid holds 35% more of the best level's size

Level = list[float]  # [price, amount], as in ccxt's unified order book


def top_of_book(spec: MarketSpec, mid: float) -> tuple[int, int, int]:
    """(best bid, best ask, gap between levels), all in ticks."""
    tick = spec.price_tick
    bid = math.floor(mid * (1.0 - spec.half_spread) / tick)
    ask = math.ceil(mid * (1.0 + spec.half_spread) / tick)
    if ask <= bid:
        ask = bid + 1
    gap = max(1, int(mid * spec.level_gap / tick))
    return bid, ask, gap


def best_prices(spec: MarketSpec, mid: float) -> tuple[float, float]:
    bid, ask, _ = top_of_book(spec, mid)
    dec = spec.price_decimals
    return round(bid * spec.price_tick, dec), round(ask * spec.price_tick, dec)


def _level_sizes(spec: MarketSpec, levels: int) -> list[float]:
    """Mean size of each level, in lots (cached per market)."""
    key = (spec.venue, spec.symbol, levels)
    sizes = _SIZES.get(key)
    if sizes is None:
        sizes = [spec.depth * (1.0 + SIZE_GROWTH * i) / spec.amount_step for i in range(levels)]
        _SIZES[key] = sizes
    return sizes


_SIZES: dict[tuple[str, str, int], list[float]] = {}


def build_levels(
    spec: MarketSpec, mid: float, noise_seed: int, levels: int
) -> tuple[list[Level], list[Level]]:
    """(bids best-first, asks best-first), ``levels`` deep; sizes are 0.5x-1.5x the level mean."""
    bid0, ask0, gap = top_of_book(spec, mid)
    # integer arithmetic then one division by a power of ten: the same floats as round(), faster
    pscale = 10**spec.price_decimals
    tick_u = round(spec.price_tick * pscale)
    ascale = 10**spec.amount_decimals
    step_u = round(spec.amount_step * ascale)
    a, c, mask, unit = LCG_A, LCG_C, LCG_MASK, LCG_SCALE
    x = noise_seed & mask
    bids: list[Level] = []
    asks: list[Level] = []
    for i, mean in enumerate(_level_sizes(spec, levels)):
        x = (x * a + c) & mask
        lots = int(mean * (0.5 + x * unit)) or 1
        bids.append([(bid0 - i * gap) * tick_u / pscale, lots * step_u / ascale])
        x = (x * a + c) & mask
        lots = int(mean * (0.5 + x * unit)) or 1
        asks.append([(ask0 + i * gap) * tick_u / pscale, lots * step_u / ascale])
    return bids, asks


def order_book(
    symbol: str, bids: list[Level], asks: list[Level], ts: int, datetime: str | None, nonce: int
) -> dict[str, object]:
    """ccxt's unified order book structure."""
    return {
        "symbol": symbol,
        "bids": bids,
        "asks": asks,
        "timestamp": ts,
        "datetime": datetime,
        "nonce": nonce,
    }
