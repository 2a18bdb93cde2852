"""Record raw venue payloads as fixtures (``tests/fixtures/venues/<id>/`` format).

Every ccxt unified call the venue makes is captured with its input and parsed response; for a
real ccxt exchange the HTTP responses behind it are captured too (by wrapping ``fetch``), so
the files can be served back through ccxt's own parsers by the test HTTP stub.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlparse

from connectors.normalize import raw_json

RECORDED_METHODS = (
    "fetch_order_book",
    "watch_order_book",
    "fetch_trades",
    "watch_trades",
    "fetch_funding_rate",
    "fetch_funding_rates",
    "fetch_funding_interval",
    "fetch_funding_intervals",
    "fetch_funding_rate_history",
    "load_markets",
)


class Recorder:
    """Wraps an exchange's methods; :meth:`save` writes one JSON file per captured payload."""

    def __init__(self, exchange: Any, venue_id: str) -> None:
        self.exchange = exchange
        self.venue_id = venue_id
        self.entries: list[dict[str, Any]] = []
        for name in RECORDED_METHODS:
            method = getattr(exchange, name, None)
            if method is not None:
                setattr(exchange, name, self._wrap(name, method))
        fetch: Any = getattr(exchange, "fetch", None)
        if fetch is not None and getattr(fetch, "__self__", None) is exchange:
            self.exchange.fetch = self._wrap_http(fetch)

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        async def recorded(*args: Any, **kwargs: Any) -> Any:
            result = await method(*args, **kwargs)
            self.entries.append(
                {
                    "description": f"{self.venue_id} {name} (recorded)",
                    "method": name,
                    "input": [a for a in args if isinstance(a, str | int | float | list)],
                    "parsedResponse": json.loads(raw_json(result))
                    if name != "load_markets"
                    else None,
                }
            )
            return result

        return recorded

    def _wrap_http(self, fetch: Callable[..., Any]) -> Callable[..., Any]:
        async def recorded(
            url: str, method: str = "GET", headers: Any = None, body: Any = None
        ) -> Any:
            response = await fetch(url, method, headers, body)
            parsed = urlparse(url)
            self.entries.append(
                {
                    "description": f"{self.venue_id} {method} {parsed.path} (recorded)",
                    "method": method,
                    "url": parsed.path,
                    "query": dict(parse_qsl(parsed.query)),
                    "httpResponse": response,
                }
            )
            return response

        return recorded

    def save(self, out_dir: Path) -> list[Path]:
        """Write every entry to ``out_dir/<venue>/<nnnn>-<method>.json``; returns the paths."""
        folder = out_dir / self.venue_id
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for n, entry in enumerate(self.entries):
            slug = re.sub(r"[^A-Za-z0-9]+", "_", str(entry.get("url") or entry["method"])).strip(
                "_"
            )
            path = folder / f"{n:05d}-{slug}.json"
            path.write_text(json.dumps(entry, indent=1, sort_keys=True, default=str) + "\n")
            paths.append(path)
        return paths
