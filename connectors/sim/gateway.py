"""The simulated venues' order gateway: the sim world's accounts reachable from another process.

The paper executor must not own the venue it trades on: an executor killed after a send must
find the order on the venue when it comes back, as it would on a real exchange. So the venue
side lives in the process that runs the simulated world (``fundingflow connect --venues sim``),
and this gateway serves its exchanges' account methods over loopback HTTP:

``POST /v1/<venue>/<method>`` with ``{"args": [...], "kwargs": {...}}`` calls the ccxt method
of that venue's :class:`~connectors.sim.exchange.SimExchange` and answers ``{"result": ...}``
(ccxt's unified structures, as JSON), or ``{"error": "<ccxt class>", "message": ...}`` with
status 400 (venue refusals), 503 (unavailable, rate limited) or 504 (the request timed out
after the venue accepted it, the dropped response of the fault hooks). ``GET /v1/venues``
lists the venue ids and the world's identity (``session``: seed and epoch), so a client can
tell a restarted world from the one it traded on. Only the methods in :data:`METHODS` are
served. The client side is :mod:`connectors.sim.remote`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import ccxt.async_support as ccxt
import structlog
from aiohttp import web

from connectors.sim.exchange import SimExchange

log = structlog.get_logger("fundingflow.sim.gateway")

METHODS = frozenset(
    {
        "fetch_markets",
        "fetch_time",
        "fetch_balance",
        "fetch_positions",
        "fetch_open_orders",
        "fetch_order",
        "fetch_funding_history",
        "fetch_order_book",
        "fetch_trades",
        "create_order",
        "cancel_order",
    }
)
"""The account and order methods a paper client may call, and the book and recent trades an
execution plan sizes its children from (the market data stream comes from Kafka)."""

_STATUS_OF: tuple[tuple[type[BaseException], int], ...] = (
    (ccxt.RequestTimeout, 504),
    (ccxt.RateLimitExceeded, 503),
    (ccxt.ExchangeNotAvailable, 503),
    (ccxt.NetworkError, 502),
    (ccxt.BaseError, 400),
)


def _jsonable(value: Any) -> Any:
    """ccxt structures as JSON: NaN and infinities (never valid JSON) become null."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def session_of(exchange: SimExchange) -> str:
    """The identity of the world an exchange belongs to: seed and scenario epoch."""
    return f"seed{exchange.world.seed}-epoch{exchange.world.scenario.epoch_ms}"


def build_app(exchanges: Mapping[str, SimExchange]) -> web.Application:
    """The gateway's web application over ``exchanges`` (by venue id)."""
    if not exchanges:
        raise ValueError("an order gateway needs at least one simulated venue")
    session = session_of(next(iter(exchanges.values())))

    async def venues(_: web.Request) -> web.Response:
        return web.json_response({"venues": sorted(exchanges), "session": session})

    async def call(request: web.Request) -> web.Response:
        venue = request.match_info["venue"]
        method = request.match_info["method"]
        exchange = exchanges.get(venue)
        if exchange is None:
            return _error(404, "BadRequest", f"no simulated venue {venue!r}")
        if method not in METHODS:
            return _error(404, "NotSupported", f"{method!r} is not served by the order gateway")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "BadRequest", "the body is not JSON")
        args = body.get("args", []) if isinstance(body, dict) else None
        kwargs = body.get("kwargs", {}) if isinstance(body, dict) else None
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            return _error(400, "BadRequest", 'the body must be {"args": [...], "kwargs": {...}}')
        try:
            result = await getattr(exchange, method)(*args, **kwargs)
        except ccxt.BaseError as exc:
            status = next(code for cls, code in _STATUS_OF if isinstance(exc, cls))
            return _error(status, type(exc).__name__, str(exc))
        except (TypeError, ValueError) as exc:
            return _error(400, "BadRequest", f"{type(exc).__name__}: {exc}")
        return web.json_response({"result": _jsonable(result)})

    app = web.Application()
    app.router.add_get("/v1/venues", venues)
    app.router.add_post("/v1/{venue}/{method}", call)
    return app


def _error(status: int, name: str, message: str) -> web.Response:
    return web.json_response({"error": name, "message": message[:500]}, status=status)


class OrderGateway:
    """Serve ``exchanges`` on ``host:port`` until :meth:`stop` (port 0: any free port)."""

    def __init__(self, exchanges: Mapping[str, SimExchange], host: str, port: int) -> None:
        self._runner = web.AppRunner(build_app(exchanges), access_log=None)
        self._host = host
        self._port = port
        self.url = ""

    async def start(self) -> str:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self._port
        self.url = f"http://{self._host}:{port}"
        log.info("order_gateway_started", url=self.url)
        return self.url

    async def stop(self) -> None:
        await self._runner.cleanup()
