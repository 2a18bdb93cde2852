"""``RemoteSimExchange``: a ccxt exchange whose venue is a simulated one in another process.

It speaks to :mod:`connectors.sim.gateway` over loopback HTTP and is otherwise a ccxt
``async_support`` exchange: markets go through ccxt's ``set_markets``, answers are ccxt's unified
structures and failures are ccxt's exception classes (the gateway names the class; a
connection failure is ``NetworkError``, a client-side timeout ``RequestTimeout``). So the
executor drives it through :class:`~connectors.ccxt_venue.CcxtVenue` exactly as it would a live
venue, and an executor killed mid-send finds the order on the venue when it restarts.
"""

# ccxt signatures are kept whole (``params``, ``symbol``) even where they are only forwarded.
# ruff: noqa: ARG002

from __future__ import annotations

from typing import Any

import aiohttp
import ccxt.async_support as ccxt
from ccxt.async_support.base.exchange import Exchange
from ccxt.base.decimal_to_precision import TICK_SIZE

from connectors.sim.exchange import HAS

Struct = dict[str, Any]
DEFAULT_TIMEOUT_S = 5.0


def _ccxt_error(name: str) -> type[ccxt.BaseError]:
    cls: object = getattr(ccxt, name, None)
    if isinstance(cls, type) and issubclass(cls, ccxt.BaseError):
        return cls
    fallback: type[ccxt.BaseError] = ccxt.ExchangeError
    return fallback


class RemoteSimExchange(Exchange):  # type: ignore[misc]
    """One simulated venue behind an order gateway at ``gateway_url``."""

    def __init__(self, venue: str, gateway_url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.venue_id = venue
        self.gateway_url = gateway_url.rstrip("/")
        self.request_timeout_s = timeout_s
        self._http: aiohttp.ClientSession | None = None
        super().__init__({})

    def describe(self) -> dict[str, Any]:
        return self.deep_extend(  # type: ignore[no-any-return]
            super().describe(),
            {
                "id": self.venue_id,
                "name": self.venue_id,
                "countries": [],
                "rateLimit": 0,
                "pro": False,
                "has": HAS,
                "precisionMode": TICK_SIZE,
                "options": {"defaultType": "swap"},
            },
        )

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.request_timeout_s)
            )
        url = f"{self.gateway_url}/v1/{self.venue_id}/{method}"
        try:
            async with self._http.post(url, json={"args": list(args), "kwargs": kwargs}) as resp:
                body = await resp.json(content_type=None)
        except TimeoutError as exc:
            raise ccxt.RequestTimeout(f"{self.venue_id} {method}: no answer in time") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise ccxt.NetworkError(f"{self.venue_id} {method}: {type(exc).__name__}") from exc
        if not isinstance(body, dict):
            raise ccxt.BadResponse(f"{self.venue_id} {method}: the gateway answered {body!r:.80}")
        if "error" in body:
            raise _ccxt_error(str(body["error"]))(str(body.get("message", "")))
        return body.get("result")

    async def fetch_markets(self, params: dict[str, Any] | None = None) -> list[Struct]:
        result: list[Struct] = await self._call("fetch_markets")
        return result

    async def fetch_time(self, params: dict[str, Any] | None = None) -> int:
        return int(await self._call("fetch_time"))

    async def fetch_balance(self, params: dict[str, Any] | None = None) -> Struct:
        result: Struct = await self._call("fetch_balance")
        return result

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> list[Struct]:
        result: list[Struct] = await self._call("fetch_positions", symbols)
        return result

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        result: list[Struct] = await self._call("fetch_open_orders", symbol, since, limit)
        return result

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> Struct:
        result: Struct = await self._call("fetch_order", id, symbol, params or {})
        return result

    async def fetch_funding_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        result: list[Struct] = await self._call("fetch_funding_history", symbol, since, limit)
        return result

    async def fetch_order_book(
        self, symbol: str, limit: int | None = None, params: dict[str, Any] | None = None
    ) -> Struct:
        result: Struct = await self._call("fetch_order_book", symbol, limit)
        return result

    async def fetch_trades(
        self,
        symbol: str,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[Struct]:
        result: list[Struct] = await self._call("fetch_trades", symbol, since, limit)
        return result

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> Struct:
        result: Struct = await self._call(
            "create_order", symbol, type, side, amount, price, params or {}
        )
        return result

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> Struct:
        result: Struct = await self._call("cancel_order", id, symbol, params or {})
        return result

    async def close(self, clean_instance_data: bool = False) -> None:
        if self._http is not None:
            await self._http.close()
        self.closed_by_user = True


async def gateway_venues(
    gateway_url: str, timeout_s: float = DEFAULT_TIMEOUT_S
) -> tuple[list[str], str]:
    """The gateway's venue ids and the identity of its world (seed and epoch)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http,
        http.get(f"{gateway_url.rstrip('/')}/v1/venues") as resp,
    ):
        body = await resp.json()
    return [str(v) for v in body["venues"]], str(body["session"])
