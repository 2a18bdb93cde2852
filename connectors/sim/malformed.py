"""Malformed payloads: how each tagged kind corrupts an otherwise valid ccxt structure.

The market model decides (seeded) which updates are malformed and with which kind; these functions
apply the corruption when the structure is emitted. Nonce kinds (``out_of_order_nonce``,
``duplicated_nonce``, ``nonce_gap``) are applied to the nonce sequence by the market model itself.
"""

from __future__ import annotations

from typing import Any

from connectors.sim.structures import iso8601

FUTURE_MS = 86_400_000  # one day ahead: far beyond any clock-skew tolerance
ABSURD_FUNDING_RATE = 5.0  # 500% per interval
NONCE_KINDS = frozenset({"out_of_order_nonce", "duplicated_nonce", "nonce_gap"})


def _unknown(symbol: str) -> str:
    return "ZZZ/USDT:USDT" if ":" in symbol else "ZZZ/USDT"


def corrupt_book(kind: str, ob: dict[str, Any]) -> None:
    bids: list[list[Any]] = ob["bids"]
    asks: list[list[Any]] = ob["asks"]
    if kind == "nan_price":
        bids[0][0] = float("nan")
    elif kind == "crossed_book":
        bids[0][0] = asks[0][0] * 1.001
    elif kind == "negative_size":
        asks[0][1] = -asks[0][1]
    elif kind == "empty_book":
        ob["bids"], ob["asks"] = [], []
    elif kind == "non_numeric_string":
        asks[0][0] = f"{asks[0][0]}x"
    elif kind == "future_timestamp":
        _future(ob)
    elif kind == "unknown_symbol":
        ob["symbol"] = _unknown(ob["symbol"])
    elif kind not in NONCE_KINDS:
        raise ValueError(f"unknown malformed book kind {kind!r}")


def corrupt_funding(kind: str, fr: dict[str, Any]) -> None:
    if kind == "missing_interval":
        fr["interval"] = None
    elif kind == "funding_out_of_bounds":
        fr["fundingRate"] = ABSURD_FUNDING_RATE
    elif kind == "nan_price":
        fr["markPrice"] = float("nan")
    elif kind == "non_numeric_string":
        fr["fundingRate"] = "0.0001abc"
    elif kind == "future_timestamp":
        _future(fr)
    elif kind == "unknown_symbol":
        fr["symbol"] = _unknown(fr["symbol"])
    else:
        raise ValueError(f"unknown malformed funding kind {kind!r}")


def corrupt_trade(kind: str, tr: dict[str, Any]) -> None:
    if kind == "nan_price":
        tr["price"] = float("nan")
        tr["cost"] = float("nan")
    elif kind == "negative_size":
        tr["amount"] = -tr["amount"]
        tr["cost"] = -tr["cost"]
    elif kind == "non_numeric_string":
        tr["price"] = f"{tr['price']}x"
    elif kind == "future_timestamp":
        _future(tr)
    elif kind == "unknown_symbol":
        tr["symbol"] = _unknown(tr["symbol"])
    else:
        raise ValueError(f"unknown malformed trade kind {kind!r}")


def _future(struct: dict[str, Any]) -> None:
    struct["timestamp"] += FUTURE_MS
    struct["datetime"] = iso8601(struct["timestamp"])
