"""Order management of one simulated venue: validation, immediate matching, resting orders, log.

Orders take liquidity from the book at acceptance (market, IOC, FOK, the crossing part of a GTC
limit), pay the taker fee, and a GTC remainder rests; resting orders fill as makers at their limit
price when a later book crosses them. ``order_log`` records every accepted order (for the
reliability oracles), including orders whose response was dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any

from ccxt.base.errors import DuplicateOrderId
from ccxt.base.errors import InvalidOrder
from ccxt.base.errors import OrderImmediatelyFillable
from ccxt.base.errors import OrderNotFound

from connectors.sim import matching
from connectors.sim import structures
from connectors.sim.accounts import Account
from connectors.sim.matching import LotFill
from connectors.sim.scenario import MarketSpec

TIME_IN_FORCE = ("GTC", "IOC", "FOK", "PO")


@dataclass(slots=True)
class SimOrder:
    id: str
    client_order_id: str
    spec: MarketSpec
    type: str
    side: str
    lots: int
    price: float | None
    time_in_force: str
    reduce_only: bool
    ts: int
    visible_from_ms: int = 0
    status: str = "open"
    filled_lots: int = 0
    notional: float = 0.0  # sum of price x lots of the fills
    fee_cost: float = 0.0
    last_trade_ts: int | None = None
    last_update_ts: int | None = None
    trades: list[dict[str, Any]] = field(default_factory=list)

    @property
    def remaining_lots(self) -> int:
        return self.lots - self.filled_lots


@dataclass(frozen=True, slots=True)
class SimOrderRequest:
    spec: MarketSpec
    type: str
    side: str
    amount: float
    price: float | None
    params: dict[str, Any]


class OrderManager:
    def __init__(self, venue: str, account: Account) -> None:
        self.venue = venue
        self.account = account
        self.orders: dict[str, SimOrder] = {}
        self.open_ids: list[str] = []
        self.order_log: list[dict[str, Any]] = []
        self._next_id = 0

    # ---- validation --------------------------------------------------------------------------

    def _validate(self, req: SimOrderRequest, mid: float) -> tuple[int, str, bool]:
        """(lots, time in force, reduce-only) of a valid order; raises InvalidOrder otherwise."""
        lots, tif = self._validate_shape(req)
        return lots, tif, self._validate_state(req, lots, mid)

    def _validate_shape(self, req: SimOrderRequest) -> tuple[int, str]:
        spec, params = req.spec, req.params
        if req.type not in ("market", "limit"):
            raise InvalidOrder(f"{self.venue} order type {req.type!r} is not supported")
        if req.side not in ("buy", "sell"):
            raise InvalidOrder(f"{self.venue} order side {req.side!r} is invalid")
        lots = matching.to_lots(spec, float(req.amount))
        if lots is None or lots <= 0:
            raise InvalidOrder(
                f"{self.venue} amount {req.amount} is not a positive multiple of {spec.amount_step}"
            )
        if lots * spec.amount_step < spec.min_amount - 1e-12:
            raise InvalidOrder(f"{self.venue} amount {req.amount} below minimum {spec.min_amount}")
        tif = str(params.get("timeInForce") or ("IOC" if req.type == "market" else "GTC")).upper()
        if params.get("postOnly"):
            tif = "PO"
        if tif not in TIME_IN_FORCE:
            raise InvalidOrder(f"{self.venue} timeInForce {tif!r} is not supported")
        if req.type == "limit":
            if req.price is None or req.price <= 0:
                raise InvalidOrder(f"{self.venue} a limit order needs a positive price")
            if not matching.is_on_tick(spec, float(req.price)):
                raise InvalidOrder(f"{self.venue} price {req.price} is not a multiple of tick")
        elif tif == "PO":
            raise InvalidOrder(f"{self.venue} a market order cannot be post-only")
        return lots, tif

    def _validate_state(self, req: SimOrderRequest, lots: int, mid: float) -> bool:
        spec, params = req.spec, req.params
        reduce_only = bool(params.get("reduceOnly"))
        if reduce_only and not spec.swap:
            raise InvalidOrder(f"{self.venue} reduceOnly is for contract markets only")
        ref_price = float(req.price) if req.price is not None else mid
        if lots * spec.amount_step * spec.contract_size * ref_price < spec.min_cost:
            raise InvalidOrder(f"{self.venue} order cost below minimum {spec.min_cost}")
        cid = params.get("clientOrderId")
        if cid is not None and any(self.orders[o].client_order_id == cid for o in self.open_ids):
            raise DuplicateOrderId(f"{self.venue} duplicate clientOrderId {cid!r}")
        if reduce_only:
            pos = self.account.position_contracts(spec.symbol)
            reduces = (pos > 0 and req.side == "sell") or (pos < 0 and req.side == "buy")
            if not reduces or lots * spec.amount_step > abs(pos) + 1e-12:
                raise InvalidOrder(f"{self.venue} reduceOnly order would increase the position")
        return reduce_only

    # ---- create / cancel ---------------------------------------------------------------------

    def create(
        self,
        req: SimOrderRequest,
        bids: list[list[float]],
        asks: list[list[float]],
        mid: float,
        ts: int,
    ) -> SimOrder:
        """Validate, match and record an order; raises ccxt errors for definitive rejects."""
        spec = req.spec
        lots, tif, reduce_only = self._validate(req, mid)
        limit = float(req.price) if req.type == "limit" and req.price is not None else None
        opposite = asks if req.side == "buy" else bids
        if tif == "PO" and opposite and matching.crosses(req.side, limit, opposite[0][0]):
            raise OrderImmediatelyFillable(f"{self.venue} post-only order would take liquidity")
        fills = [] if tif == "PO" else matching.walk(spec, opposite, req.side, lots, limit)
        taken = sum(f.lots for f in fills)
        if tif == "FOK" and taken < lots:
            fills, taken = [], 0
        rests = req.type == "limit" and tif in ("GTC", "PO") and taken < lots
        self._check_funds(spec, req.side, fills, lots - taken if rests else 0, limit, reduce_only)
        self._next_id += 1
        oid = f"{100_000_000 + self._next_id}"
        cid = str(req.params.get("clientOrderId") or f"sim-{self.venue}-{self._next_id}")
        order = SimOrder(oid, cid, spec, req.type, req.side, lots, limit, tif, reduce_only, ts)
        order.last_update_ts = ts
        self.orders[oid] = order
        for f in fills:
            self._fill(order, f, ts, "taker")
        if rests:
            self.open_ids.append(oid)
            self._reserve(order)
        else:
            order.status = "closed" if order.remaining_lots == 0 else "canceled"
        self.order_log.append(
            {"id": oid, "clientOrderId": cid, "symbol": spec.symbol, "side": req.side,
             "type": req.type, "amount": matching.lots_amount(spec, lots), "price": limit,
             "timestamp": ts}
        )  # fmt: skip
        return order

    def _check_funds(
        self,
        spec: MarketSpec,
        side: str,
        fills: list[LotFill],
        resting_lots: int,
        limit: float | None,
        reduce_only: bool,
    ) -> None:
        filled, average, _ = matching.vwap(spec, fills)
        currency, needed = self.account.requirement(spec, side, filled, average, reduce_only)
        if resting_lots and limit is not None:
            rest = matching.lots_amount(spec, resting_lots)
            needed += self.account.requirement(spec, side, rest, limit, reduce_only)[1]
        self.account.check_funds(currency, needed)

    def cancel(self, order: SimOrder, ts: int) -> None:
        if order.status != "open":
            raise OrderNotFound(f"{self.venue} order {order.id} is {order.status}, not open")
        order.status = "canceled"
        order.last_update_ts = ts
        self._close(order)

    def _close(self, order: SimOrder) -> None:
        if order.id in self.open_ids:
            self.open_ids.remove(order.id)
        self.account.reserve(order.id, "", 0.0)

    def _reserve(self, order: SimOrder) -> None:
        if order.price is None:
            return
        amount = matching.lots_amount(order.spec, order.remaining_lots)
        currency, needed = self.account.requirement(
            order.spec, order.side, amount, order.price, order.reduce_only
        )
        self.account.reserve(order.id, currency, needed)

    def find(self, id: str | None, cid: str | None, now_ms: int) -> SimOrder | None:
        """The order by client id (the latest with it) or venue id, if visible at ``now_ms``."""
        found: SimOrder | None = None
        if cid is not None:
            matches = [o for o in self.orders.values() if o.client_order_id == cid]
            found = matches[-1] if matches else None
        elif id is not None:
            found = self.orders.get(str(id))
        return found if found is not None and now_ms >= found.visible_from_ms else None

    # ---- fills -------------------------------------------------------------------------------

    def _fill(self, order: SimOrder, fill: LotFill, ts: int, liquidity: str) -> None:
        spec = order.spec
        amount = matching.lots_amount(spec, fill.lots)
        rate = spec.taker if liquidity == "taker" else spec.maker
        fee = self.account.apply_fill(spec, order.side, amount, fill.price, rate, ts)
        order.filled_lots += fill.lots
        order.notional += fill.price * fill.lots
        order.fee_cost += fee
        order.last_trade_ts = order.last_update_ts = ts
        fee_struct = {"currency": spec.quote, "cost": fee, "rate": rate}
        order.trades.append(
            structures.trade(
                id=f"{order.id}-{len(order.trades) + 1}",
                symbol=spec.symbol,
                ts=ts,
                side=order.side,
                price=fill.price,
                amount=amount,
                cost=amount * spec.contract_size * fill.price,
                order=order.id,
                order_type=order.type,
                taker_or_maker=liquidity,
                fee=fee_struct,
            )
        )

    def on_book(
        self, spec: MarketSpec, bids: list[list[float]], asks: list[list[float]], ts: int
    ) -> list[SimOrder]:
        """Fill resting orders of ``spec`` that the new book crosses; returns the changed orders."""
        changed: list[SimOrder] = []
        for oid in list(self.open_ids):
            order = self.orders[oid]
            if order.spec.symbol != spec.symbol:
                continue
            opposite = asks if order.side == "buy" else bids
            lots = matching.fillable_lots(spec, opposite, order.side, order.price)
            lots = min(lots, order.remaining_lots)
            if order.reduce_only:
                pos_lots = matching.to_lots(spec, abs(self.account.position_contracts(spec.symbol)))
                lots = min(lots, pos_lots or 0)
            if lots <= 0:
                continue
            assert order.price is not None
            self._fill(order, LotFill(order.price, lots), ts, "maker")
            if order.remaining_lots == 0:
                order.status = "closed"
                self._close(order)
            else:
                self._reserve(order)
            changed.append(order)
        return changed

    # ---- ccxt structure ----------------------------------------------------------------------

    def to_struct(self, order: SimOrder, skew_ms: int) -> dict[str, Any]:
        spec = order.spec
        filled = matching.lots_amount(spec, order.filled_lots)
        average = order.notional / order.filled_lots if order.filled_lots else None
        cost = order.notional * spec.amount_step * spec.contract_size
        fee = {"currency": spec.quote, "cost": order.fee_cost}
        ts = order.ts + skew_ms
        last_trade = order.last_trade_ts + skew_ms if order.last_trade_ts is not None else None
        last_update = order.last_update_ts + skew_ms if order.last_update_ts is not None else None
        values: dict[str, Any] = {
            "id": order.id,
            "clientOrderId": order.client_order_id,
            "datetime": structures.iso8601(ts),
            "timestamp": ts,
            "lastTradeTimestamp": last_trade,
            "lastUpdateTimestamp": last_update,
            "status": order.status,
            "symbol": spec.symbol,
            "type": order.type,
            "timeInForce": order.time_in_force,
            "side": order.side,
            "price": order.price if order.price is not None else average,
            "average": average,
            "amount": matching.lots_amount(spec, order.lots),
            "filled": filled,
            "remaining": matching.lots_amount(spec, order.remaining_lots),
            "stopPrice": None,
            "triggerPrice": None,
            "takeProfitPrice": None,
            "stopLossPrice": None,
            "cost": cost,
            "trades": [
                {
                    **t,
                    "timestamp": t["timestamp"] + skew_ms,
                    "datetime": structures.iso8601(t["timestamp"] + skew_ms),
                }
                for t in order.trades
            ],
            "fee": fee,
            "fees": [fee],
            "reduceOnly": order.reduce_only,
            "postOnly": order.time_in_force == "PO",
            "marginMode": "cross" if spec.swap else None,
            "leverage": self.account.leverage if spec.swap else None,
            "hedged": False if spec.swap else None,
            "info": {
                "orderId": order.id,
                "clientOrderId": order.client_order_id,
                "symbol": spec.id,
                "status": order.status.upper(),
            },
        }
        return {k: values[k] for k in structures.ORDER_KEYS}
