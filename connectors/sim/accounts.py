"""One venue account: cash balances, reservations for open orders, perp positions, funding payments.

The account is unified (one wallet per venue): spot fills move base and quote, perp fills move
USDT (margin currency) and a position per symbol. Fees are charged in the quote currency. Funding
is settled as position notional x rate at the mark price: with a positive rate longs pay shorts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ccxt.base.errors import InsufficientFunds

from connectors.sim import structures
from connectors.sim.scenario import MarketSpec
from connectors.sim.scenario import VenueSpec

MONEY_DECIMALS = 10


@dataclass(slots=True)
class PositionState:
    spec: MarketSpec
    contracts: float = 0.0  # signed: > 0 long, < 0 short
    entry_price: float = 0.0
    realized_pnl: float = 0.0
    updated_ts: int = 0


class Account:
    def __init__(self, venue: VenueSpec, mark_of: Callable[[MarketSpec], float]) -> None:
        self.venue = venue
        self.leverage = venue.leverage
        self.mmr = venue.maintenance_margin_rate
        self.cash: dict[str, float] = dict(venue.balances)
        self.reservations: dict[str, tuple[str, float]] = {}  # order id -> (currency, amount)
        self.positions: dict[str, PositionState] = {}
        self.funding_payments: list[dict[str, Any]] = []
        self._mark_of = mark_of

    # ---- reading -----------------------------------------------------------------------------

    def position_contracts(self, symbol: str) -> float:
        pos = self.positions.get(symbol)
        return pos.contracts if pos else 0.0

    def unrealized_pnl(self, pos: PositionState) -> float:
        mark = self._mark_of(pos.spec)
        return (mark - pos.entry_price) * pos.contracts * pos.spec.contract_size

    def used(self) -> dict[str, float]:
        used: dict[str, float] = {}
        for currency, amount in self.reservations.values():
            used[currency] = used.get(currency, 0.0) + amount
        for pos in self.positions.values():
            margin = abs(pos.contracts) * pos.spec.contract_size * self._mark_of(pos.spec)
            used[pos.spec.quote] = used.get(pos.spec.quote, 0.0) + margin / self.leverage
        return used

    def totals(self) -> dict[str, float]:
        totals = dict(self.cash)
        for pos in self.positions.values():
            totals[pos.spec.quote] = totals.get(pos.spec.quote, 0.0) + self.unrealized_pnl(pos)
        return totals

    def free(self, currency: str) -> float:
        return self.totals().get(currency, 0.0) - self.used().get(currency, 0.0)

    # ---- checks and reservations -------------------------------------------------------------

    def requirement(
        self, spec: MarketSpec, side: str, amount: float, price: float, reduce_only: bool
    ) -> tuple[str, float]:
        """(currency, amount) an order of ``amount`` at ``price`` needs available."""
        notional = amount * spec.contract_size * price
        if spec.swap:
            return (
                spec.quote,
                0.0 if reduce_only else notional / self.leverage + notional * spec.taker,
            )
        if side == "buy":
            return spec.quote, notional * (1.0 + spec.taker)
        return spec.base, amount

    def check_funds(self, currency: str, needed: float) -> None:
        free = self.free(currency)
        if needed > free + 1e-12:
            raise InsufficientFunds(
                f"{self.venue.id} insufficient {currency}: needs {needed:.8f}, free {free:.8f}"
            )

    def reserve(self, order_id: str, currency: str, amount: float) -> None:
        if amount > 0:
            self.reservations[order_id] = (currency, amount)
        else:
            self.reservations.pop(order_id, None)

    # ---- applying fills and funding ----------------------------------------------------------

    def _add(self, currency: str, delta: float) -> None:
        self.cash[currency] = round(self.cash.get(currency, 0.0) + delta, MONEY_DECIMALS)

    def apply_fill(
        self, spec: MarketSpec, side: str, amount: float, price: float, fee_rate: float, ts: int
    ) -> float:
        """Apply one fill; returns the fee paid (quote currency)."""
        notional = amount * spec.contract_size * price
        fee = notional * fee_rate
        self._add(spec.quote, -fee)
        if not spec.swap:
            sign = 1.0 if side == "buy" else -1.0
            self._add(spec.base, sign * amount)
            self._add(spec.quote, -sign * notional)
            return fee
        pos = self.positions.get(spec.symbol) or PositionState(spec)
        delta = amount if side == "buy" else -amount
        old = pos.contracts
        new = round(old + delta, spec.amount_decimals + 2)
        if old == 0 or (old > 0) == (delta > 0):  # opening or increasing
            pos.entry_price = (pos.entry_price * abs(old) + price * amount) / abs(new)
        else:  # reducing, closing or flipping
            closed = min(abs(old), amount)
            pnl = (price - pos.entry_price) * closed * spec.contract_size * (1 if old > 0 else -1)
            pos.realized_pnl += pnl
            self._add(spec.quote, pnl)
            if new != 0 and (new > 0) != (old > 0):
                pos.entry_price = price
        pos.contracts = new
        pos.updated_ts = ts
        if new == 0:
            self.positions.pop(spec.symbol, None)
        else:
            self.positions[spec.symbol] = pos
        return fee

    def settle_funding(self, spec: MarketSpec, mark: float, rate: float, ts: int) -> float | None:
        """Pay or receive funding on the position in ``spec``; returns the amount (None if flat)."""
        pos = self.positions.get(spec.symbol)
        if pos is None or pos.contracts == 0:
            return None
        amount = round(-pos.contracts * spec.contract_size * mark * rate, MONEY_DECIMALS)
        self._add(spec.quote, amount)
        pid = f"{self.venue.id}-funding-{len(self.funding_payments) + 1}"
        self.funding_payments.append(
            structures.funding_payment(
                id=pid,
                symbol=spec.symbol,
                code=spec.quote,
                ts=ts,
                amount=amount,
                rate=rate,
                mark=mark,
                interval_ms=spec.funding_interval_ms,
            )
        )
        return amount

    # ---- ccxt structures ---------------------------------------------------------------------

    def balance_struct(self, ts: int) -> dict[str, Any]:
        return structures.balance(ts, self.totals(), self.used())

    def position_struct(self, pos: PositionState, ts: int) -> dict[str, Any]:
        spec = pos.spec
        mark = self._mark_of(spec)
        contracts = abs(pos.contracts)
        notional = contracts * spec.contract_size * mark
        upnl = self.unrealized_pnl(pos)
        initial = notional / self.leverage
        maint = notional * self.mmr
        long = pos.contracts > 0
        move = 1.0 / self.leverage - self.mmr
        liq = pos.entry_price * (1.0 - move if long else 1.0 + move)
        values: dict[str, Any] = {
            "symbol": spec.symbol,
            "id": None,
            "info": {
                "symbol": spec.id,
                "positionAmt": pos.contracts,
                "entryPrice": pos.entry_price,
            },
            "timestamp": ts,
            "datetime": structures.iso8601(ts),
            "contracts": contracts,
            "contractSize": spec.contract_size,
            "side": "long" if long else "short",
            "notional": notional,
            "leverage": self.leverage,
            "unrealizedPnl": upnl,
            "realizedPnl": pos.realized_pnl,
            "positionMargin": None,
            "collateral": initial + upnl,
            "entryPrice": pos.entry_price,
            "markPrice": mark,
            "liquidationPrice": liq,
            "marginMode": "cross",
            "hedged": False,
            "maintenanceMargin": maint,
            "maintenanceMarginPercentage": self.mmr,
            "initialMargin": initial,
            "initialMarginPercentage": 1.0 / self.leverage,
            "marginRatio": maint / (initial + upnl) if initial + upnl > 0 else None,
            "lastUpdateTimestamp": pos.updated_ts,
            "lastPrice": None,
            "stopLossPrice": None,
            "takeProfitPrice": None,
            "percentage": upnl / initial * 100.0 if initial else None,
            "isolated": False,
            "exitPrice": None,
        }
        return {k: values[k] for k in structures.POSITION_KEYS}
