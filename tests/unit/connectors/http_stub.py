"""Serve stored venue fixtures to ccxt by replacing only ``exchange.fetch`` (the HTTP call of
``ccxt.async_support``). The stub still runs ccxt's own JSON decoding, ``handle_errors`` and
``handle_http_status_code``, so venue error codes map through ccxt's tables and every parser
runs on the documented payloads.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlparse

import ccxt.async_support as ccxt_async

from connectors.venues import profile_for

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "venues"
STUBBED_VENUES = ("binance", "binanceusdm", "okx", "bybit")


def fixtures(venue_id: str) -> list[dict[str, Any]]:
    """Every fixture of a venue, most specific (most query or body constraints) first."""
    out = [json.loads(p.read_text()) for p in sorted((FIXTURES / venue_id).glob("*.json"))]
    return sorted(out, key=lambda f: -len(f.get("query") or {}) - len(f.get("body") or {}))


class HttpStub:
    """Routes ``(method, path, query subset, JSON body subset)`` to stored responses; records
    every call."""

    def __init__(self, venue_id: str, extra: list[dict[str, Any]] | None = None) -> None:
        self.routes = (extra or []) + fixtures(venue_id)
        self.calls: list[tuple[str, str]] = []

    def route(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        parsed = urlparse(url)
        query = dict(parse_qsl(parsed.query))
        sent = _json_body(body)
        for fx in self.routes:
            if fx.get("method", "GET") != method or not re.fullmatch(
                re.escape(fx["url"]), parsed.path
            ):
                continue
            if all(query.get(k) == v for k, v in (fx.get("query") or {}).items()) and all(
                sent.get(k) == v for k, v in (fx.get("body") or {}).items()
            ):
                return fx
        raise AssertionError(f"no fixture for {method} {url}")

    def install(self, exchange: Any) -> Any:
        async def fetch(
            url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            self.calls.append((method, url))
            fx = self.route(method, url, body)
            if fx.get("raise") == "timeout":
                raise ccxt_async.RequestTimeout(f"{exchange.id} {method} {url}")
            if fx.get("raise") == "disconnect":
                raise ccxt_async.NetworkError(f"{exchange.id} {method} {url}")
            status = int(fx.get("status", 200))
            text = json.dumps(fx["httpResponse"])
            parsed = exchange.parse_json(text)
            exchange.handle_errors(status, "", url, method, {}, text, parsed, headers, body)
            exchange.handle_http_status_code(status, "", url, method, text)
            return parsed

        exchange.fetch = fetch
        return exchange


def _json_body(body: Any) -> dict[str, Any]:
    """The request body as a dict when it is a JSON object (POST venues), else empty."""
    if not body:
        return {}
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return dict(parse_qsl(str(body)))
    return parsed if isinstance(parsed, dict) else {}


def exchange(venue_id: str, stub: HttpStub | None = None, **config: Any) -> Any:
    """A ccxt async_support exchange configured as the venue module says, HTTP stubbed."""
    profile = profile_for(venue_id)
    options = {**profile.ccxt_options(), "maxRetriesOnFailure": 0, "fetchCurrencies": False}
    ex = getattr(ccxt_async, venue_id)({"enableRateLimit": False, "options": options, **config})
    return (stub or HttpStub(venue_id)).install(ex)


def run(coro: Any) -> Any:
    return asyncio.get_event_loop().run_until_complete(coro)
