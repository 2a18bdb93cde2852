"""Order matching against a book side: depth walking in whole lots, so sizes never drift.

Amounts are handled as integer lots of the market's amount step; prices are the book's level
prices. Everything here is pure: the caller applies the fills to the account and the order.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.sim.scenario import MarketSpec


@dataclass(frozen=True, slots=True)
class LotFill:
    price: float
    lots: int


def to_lots(spec: MarketSpec, amount: float) -> int | None:
    """Whole lots in ``amount``; None when ``amount`` is not a multiple of the amount step."""
    lots = round(amount / spec.amount_step)
    if abs(lots * spec.amount_step - amount) > spec.amount_step * 1e-9:
        return None
    return lots


def is_on_tick(spec: MarketSpec, price: float) -> bool:
    ticks = round(price / spec.price_tick)
    return abs(ticks * spec.price_tick - price) <= spec.price_tick * 1e-9


def lots_amount(spec: MarketSpec, lots: int) -> float:
    return round(lots * spec.amount_step, spec.amount_decimals)


def crosses(side: str, limit: float | None, level_price: float) -> bool:
    """Whether an order on ``side`` with ``limit`` may trade at ``level_price`` (None = market)."""
    if limit is None:
        return True
    return level_price <= limit if side == "buy" else level_price >= limit


def walk(
    spec: MarketSpec, levels: list[list[float]], side: str, lots: int, limit: float | None
) -> list[LotFill]:
    """Take up to ``lots`` from ``levels`` (the opposite side, best first) within ``limit``."""
    fills: list[LotFill] = []
    left = lots
    for price, size in levels:
        if left <= 0 or not crosses(side, limit, price):
            break
        level_lots = round(size / spec.amount_step)
        take = min(left, level_lots)
        if take > 0:
            fills.append(LotFill(price, take))
            left -= take
    return fills


def fillable_lots(
    spec: MarketSpec, levels: list[list[float]], side: str, limit: float | None
) -> int:
    return sum(f.lots for f in walk(spec, levels, side, 1 << 62, limit))


def vwap(spec: MarketSpec, fills: list[LotFill]) -> tuple[float, float, float]:
    """(filled amount, average price, quote cost incl. contract size) of ``fills``."""
    lots = sum(f.lots for f in fills)
    if lots == 0:
        return 0.0, 0.0, 0.0
    notional = sum(f.price * f.lots for f in fills)
    average = notional / lots
    filled = lots_amount(spec, lots)
    cost = notional * spec.amount_step * spec.contract_size
    return filled, average, cost
