"""Market-data payloads of one venue as it emits them: ccxt structures, skewed, maybe malformed.

Each function builds the clean structure from the market model's state, shifts venue timestamps
by the clock skew, applies the update's malformed kind (if any) and counts it in ``emitted``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

from connectors.sim import books
from connectors.sim import malformed
from connectors.sim import structures
from connectors.sim.market import BookUpdate
from connectors.sim.market import FundingState
from connectors.sim.market import TradeTick
from connectors.sim.scenario import HOUR_MS
from connectors.sim.scenario import MarketSpec

Struct = dict[str, Any]


def book(
    spec: MarketSpec, st: BookUpdate, levels: int, skew_ms: int, emitted: Counter[str]
) -> Struct:
    bids, asks = books.build_levels(spec, st.mid, st.noise_seed, levels)
    ts = st.ts + skew_ms
    ob = books.order_book(spec.symbol, bids, asks, ts, structures.iso8601(ts), st.nonce)
    if st.malformed is not None:
        malformed.corrupt_book(st.malformed, ob)
        emitted[f"book:{st.malformed}"] += 1
    return ob


def _newer(ticks: Iterable[TradeTick], after_id: int) -> Iterable[TradeTick]:
    """The ticks with an id above ``after_id``, in order. Ids increase along a market's tape, so
    a watcher (who asks for the last few of up to ``TRADES_KEPT``) reads them from the end."""
    if not after_id or not isinstance(ticks, Sequence):
        return [t for t in ticks if t.id > after_id]
    newer: list[TradeTick] = []
    for i in range(len(ticks) - 1, -1, -1):
        tick = ticks[i]
        if tick.id <= after_id:
            break
        newer.append(tick)
    newer.reverse()
    return newer


def trades(
    spec: MarketSpec, ticks: Iterable[TradeTick], after_id: int, skew_ms: int, emitted: Counter[str]
) -> list[Struct]:
    out: list[Struct] = []
    for t in _newer(ticks, after_id):
        tr = structures.trade(
            id=str(t.id), symbol=spec.symbol, ts=t.ts + skew_ms, side=t.side, price=t.price,
            amount=t.amount, cost=t.amount * spec.contract_size * t.price,
        )  # fmt: skip
        if t.malformed is not None:
            malformed.corrupt_trade(t.malformed, tr)
            emitted[f"trade:{t.malformed}"] += 1
        out.append(tr)
    return out


def funding(
    spec: MarketSpec,
    f: FundingState,
    interest_8h: float,
    skew_ms: int,
    emitted: Counter[str] | None,
) -> Struct:
    """The funding rate structure; ``emitted=None`` gives the clean one (never malformed)."""
    ts = f.ts + skew_ms
    prev_rate, prev_ts = f.snapshot_previous
    interest = round(interest_8h * f.interval_ms / (8 * HOUR_MS), 10)
    fr = structures.funding_rate(
        symbol=spec.symbol, ts=ts, mark=f.mark, index=f.index, interest=interest, rate=f.rate,
        funding_ts=f.snapshot_next_ts + skew_ms, interval_ms=f.interval_ms,
        previous_rate=prev_rate, previous_ts=prev_ts + skew_ms if prev_ts is not None else None,
        info={"symbol": spec.id, "markPrice": str(f.mark), "indexPrice": str(f.index),
              "lastFundingRate": str(f.rate), "nextFundingTime": str(f.snapshot_next_ts),
              "time": str(ts)},
    )  # fmt: skip
    if emitted is not None and f.malformed is not None:
        malformed.corrupt_funding(f.malformed, fr)
        emitted[f"funding:{f.malformed}"] += 1
    return fr
