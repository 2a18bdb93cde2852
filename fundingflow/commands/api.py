"""``fundingflow api``: the HTTP API and dashboard."""

from __future__ import annotations

from typing import Annotated
from typing import Any

import typer

from fundingflow.settings import load_settings

app = typer.Typer()


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve /health, /topics, /opportunities, /metrics and a dashboard at /."""
    import threading

    import uvicorn

    from fundingflow.api import create_api
    from fundingflow.live_view import OpportunityTail
    from fundingflow.live_view import rows
    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry
    from schemas.topics import ARB_OPPORTUNITY

    settings = load_settings()
    tail = OpportunityTail(
        settings.kafka.bootstrap, Codec(ConfluentRegistry(settings.registry.url)), ARB_OPPORTUNITY
    )
    lock = threading.Lock()

    def opportunities() -> list[dict[str, Any]]:
        with lock:
            view = tail.poll(timeout_s=0.2)
            return [opportunity_json(row) for row in rows(view)]

    uvicorn.run(create_api(settings, opportunities), host=host, port=port, log_level="warning")


def opportunity_json(row: Any) -> dict[str, Any]:
    """One open opportunity for the dashboard (percent and seconds for people)."""
    return {
        "id": row.opportunity_id,
        "kind": row.kind,
        "asset": row.asset,
        "legs": f"long {row.long_leg} / short {row.short_leg}",
        "net_apr_pct": f"{row.net_apr_bps / 100:.2f}",
        "net_edge_bps": f"{row.net_edge_bps:.2f}",
        "max_size_base": f"{row.max_size_base:.6g}",
        "updates": row.updates,
    }
