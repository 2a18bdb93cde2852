"""Builders of ccxt's unified structures (the dict shapes of ``ccxt.base.types``), key for key.

Keys follow ccxt 4.x: ``FundingRate``, ``FundingRateHistory``, ``FundingHistory``, ``Trade``,
``Order``, ``Position`` and the balance shape produced by ``Exchange.safe_balance``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from connectors.sim.scenario import MarketSpec
from connectors.sim.scenario import VenueSpec

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_day_cache: dict[int, str] = {}

Struct = dict[str, Any]


def iso8601(ms: int | None) -> str | None:
    """Same output as ``ccxt.Exchange.iso8601`` (``2026-01-01T00:00:00.000Z``); the date is
    cached per day, the time of day is plain arithmetic (sim time moves a second per step)."""
    if ms is None or ms < 0:
        return None
    day, rest = divmod(ms, 86_400_000)
    date = _day_cache.get(day)
    if date is None:
        if len(_day_cache) > 4096:
            _day_cache.clear()
        date = (_EPOCH + dt.timedelta(days=day)).strftime("%Y-%m-%d")
        _day_cache[day] = date
    sec, milli = divmod(rest, 1000)
    minutes, second = divmod(sec, 60)
    hour, minute = divmod(minutes, 60)
    return f"{date}T{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"


def interval_string(interval_ms: int) -> str:
    hours, rest = divmod(interval_ms, 3_600_000)
    return f"{hours}h" if rest == 0 else f"{interval_ms // 60_000}m"


def funding_rate(
    *,
    symbol: str,
    ts: int,
    mark: float,
    index: float,
    interest: float,
    rate: float,
    funding_ts: int,
    interval_ms: int,
    previous_rate: float | None,
    previous_ts: int | None,
    info: dict[str, Any],
) -> Struct:
    next_ts = funding_ts + interval_ms
    return {
        "info": info,
        "symbol": symbol,
        "markPrice": mark,
        "indexPrice": index,
        "interestRate": interest,
        "estimatedSettlePrice": None,
        "timestamp": ts,
        "datetime": iso8601(ts),
        "fundingRate": rate,
        "fundingTimestamp": funding_ts,
        "fundingDatetime": iso8601(funding_ts),
        "nextFundingRate": None,
        "nextFundingTimestamp": next_ts,
        "nextFundingDatetime": iso8601(next_ts),
        "previousFundingRate": previous_rate,
        "previousFundingTimestamp": previous_ts,
        "previousFundingDatetime": iso8601(previous_ts),
        "interval": interval_string(interval_ms),
    }


def funding_rate_history(symbol: str, ts: int, rate: float, info: dict[str, Any]) -> Struct:
    return {
        "info": info,
        "symbol": symbol,
        "fundingRate": rate,
        "timestamp": ts,
        "datetime": iso8601(ts),
    }


def funding_payment(
    *,
    id: str,
    symbol: str,
    code: str,
    ts: int,
    amount: float,
    rate: float,
    mark: float,
    interval_ms: int,
) -> Struct:
    """One entry of ``fetch_funding_history`` (the account's funding payments). Besides ccxt's
    fields it states the settlement's mark price and funding interval (``markPrice``,
    ``interval``), as a venue's income record with its funding-rate record would."""
    return {
        "info": {
            "tranId": id,
            "symbol": symbol,
            "income": amount,
            "incomeType": "FUNDING_FEE",
            "markPrice": mark,
        },
        "symbol": symbol,
        "code": code,
        "timestamp": ts,
        "datetime": iso8601(ts),
        "id": id,
        "amount": amount,
        "rate": rate,
        "markPrice": mark,
        "interval": f"{interval_ms // 60_000}m",
        "type": "funding",
    }


def trade(
    *,
    id: str,
    symbol: str,
    ts: int,
    side: str,
    price: Any,
    amount: Any,
    cost: Any,
    order: str | None = None,
    order_type: str | None = None,
    taker_or_maker: str | None = None,
    fee: dict[str, Any] | None = None,
) -> Struct:
    return {
        "info": {"id": id, "price": price, "qty": amount, "side": side, "time": ts},
        "id": id,
        "order": order,
        "timestamp": ts,
        "datetime": iso8601(ts),
        "symbol": symbol,
        "type": order_type,
        "side": side,
        "takerOrMaker": taker_or_maker,
        "price": price,
        "amount": amount,
        "cost": cost,
        "fee": fee,
        "fees": [] if fee is None else [fee],
    }


def balance(ts: int, totals: dict[str, float], used: dict[str, float]) -> Struct:
    out: Struct = {"info": {"balances": dict(totals)}, "timestamp": ts, "datetime": iso8601(ts)}
    free_all: dict[str, float] = {}
    used_all: dict[str, float] = {}
    total_all: dict[str, float] = {}
    for code in sorted(totals):
        total = totals[code]
        u = used.get(code, 0.0)
        out[code] = {"free": total - u, "used": u, "total": total}
        free_all[code], used_all[code], total_all[code] = total - u, u, total
    out["free"], out["used"], out["total"] = free_all, used_all, total_all
    return out


def since_limit(items: list[Struct], since: int | None, limit: int | None) -> list[Struct]:
    """ccxt's filter_by_since_limit: from ``since`` take the first ``limit``, else the last."""
    if since is not None:
        items = [i for i in items if i["timestamp"] >= since]
        return items[:limit] if limit else items
    return items[-limit:] if limit else items


def market(m: MarketSpec, v: VenueSpec, created_ms: int) -> Struct:
    """ccxt's market structure (the keys of ``Exchange.safe_market_structure`` and more)."""
    return {
        "id": m.id, "lowercaseId": m.id.lower(), "symbol": m.symbol,
        "base": m.base, "quote": m.quote, "settle": m.quote if m.swap else None,
        "baseId": m.base, "quoteId": m.quote, "settleId": m.quote if m.swap else None,
        "type": "swap" if m.swap else "spot", "spot": not m.swap, "margin": False,
        "swap": m.swap, "future": False, "option": False, "index": False, "active": True,
        "contract": m.swap, "linear": True if m.swap else None,
        "inverse": False if m.swap else None,
        "subType": "linear" if m.swap else None, "taker": m.taker, "maker": m.maker,
        "percentage": True, "tierBased": False, "feeSide": "quote",
        "contractSize": m.contract_size if m.swap else None,
        "expiry": None, "expiryDatetime": None, "strike": None, "optionType": None,
        "precision": {"amount": m.amount_step, "price": m.price_tick, "cost": None,
                      "base": None, "quote": None},
        "limits": {"leverage": {"min": 1.0, "max": 50.0 if m.swap else None},
                   "amount": {"min": m.min_amount, "max": None},
                   "price": {"min": m.price_tick, "max": None},
                   "cost": {"min": m.min_cost, "max": None}},
        "marginModes": {"cross": m.swap, "isolated": False},
        "created": created_ms,
        "info": {"symbol": m.id, "status": "TRADING",
                 "fundingIntervalHours": v.funding_hours[m.asset] if m.swap else None},
    }  # fmt: skip


POSITION_KEYS = (
    "symbol",
    "id",
    "info",
    "timestamp",
    "datetime",
    "contracts",
    "contractSize",
    "side",
    "notional",
    "leverage",
    "unrealizedPnl",
    "realizedPnl",
    "positionMargin",
    "collateral",
    "entryPrice",
    "markPrice",
    "liquidationPrice",
    "marginMode",
    "hedged",
    "maintenanceMargin",
    "maintenanceMarginPercentage",
    "initialMargin",
    "initialMarginPercentage",
    "marginRatio",
    "lastUpdateTimestamp",
    "lastPrice",
    "stopLossPrice",
    "takeProfitPrice",
    "percentage",
    "isolated",
    "exitPrice",
)

ORDER_KEYS = (
    "id",
    "clientOrderId",
    "datetime",
    "timestamp",
    "lastTradeTimestamp",
    "lastUpdateTimestamp",
    "status",
    "symbol",
    "type",
    "timeInForce",
    "side",
    "price",
    "average",
    "amount",
    "filled",
    "remaining",
    "stopPrice",
    "triggerPrice",
    "takeProfitPrice",
    "stopLossPrice",
    "cost",
    "trades",
    "fee",
    "fees",
    "reduceOnly",
    "postOnly",
    "marginMode",
    "leverage",
    "hedged",
    "info",
)
