"""The HTTP API: stack health, pipeline flow, open opportunities, Prometheus metrics.

Read-only; everything it shows comes from the services and topics themselves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import generate_latest

from fundingflow import __version__
from fundingflow.settings import Settings
from fundingflow.stack.manager import Stack

DASHBOARD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fundingflow</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
td:first-child{text-align:left}.down{color:#b00}</style></head>
<body><h1>fundingflow</h1>
<h2>Services</h2><table id="services"></table>
<h2>Open opportunities</h2><table id="opportunities"></table>
<h2>Pipeline</h2><table id="topics"></table>
<script>
function fill(id, rows, cols){const t=document.getElementById(id);
 t.innerHTML='<tr>'+cols.map(c=>'<th>'+c+'</th>').join('')+'</tr>'+
 rows.map(r=>'<tr>'+cols.map(c=>'<td>'+(r[c]??'')+'</td>').join('')+'</tr>').join('');}
async function refresh(){
 const h=await (await fetch('health')).json();
 fill('services', h.services, ['name','endpoint','healthy','version']);
 const o=await (await fetch('opportunities')).json();
 fill('opportunities', o, ['kind','asset','legs','net_apr_pct','net_edge_bps',
  'max_size_base','updates']);
 const p=await (await fetch('topics')).json();
 fill('topics', p, ['topic','records','per_second']);}
refresh(); setInterval(refresh, 2000);
</script></body></html>"""

OpportunitySource = Callable[[], list[dict[str, Any]]]


def create_api(settings: Settings, opportunities: OpportunitySource | None = None) -> FastAPI:
    """Build the app; ``opportunities`` supplies the current open set (JSON-able rows)."""
    app = FastAPI(title="fundingflow", version=__version__)
    stack = Stack(settings)
    watcher: dict[str, Any] = {}

    @app.get("/", response_class=HTMLResponse)
    def dashboard() -> str:
        return DASHBOARD

    @app.get("/health")
    def health() -> dict[str, Any]:
        rows = [dataclasses.asdict(r) for r in stack.status()]
        return {"healthy": all(r["healthy"] for r in rows), "services": rows}

    @app.get("/topics")
    def topics() -> list[dict[str, Any]]:
        from fundingflow.monitor import TopicWatcher
        from schemas.topics import CATALOGUE

        if "topics" not in watcher:
            watcher["topics"] = TopicWatcher(settings.kafka.bootstrap, [s.name for s in CATALOGUE])
        return [dataclasses.asdict(flow) for flow in watcher["topics"].sample()]

    @app.get("/opportunities")
    def open_opportunities() -> list[dict[str, Any]]:
        return opportunities() if opportunities is not None else []

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
