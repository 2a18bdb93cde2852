"""The HTTP API against the running stack."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from fundingflow.api import create_api
from tests.services import Endpoints

pytestmark = pytest.mark.integration


def test_health_topics_opportunities_metrics_and_dashboard(services: Endpoints) -> None:
    rows = [{"id": "x", "kind": "PERP_PERP", "asset": "BTC"}]
    client = TestClient(create_api(services.settings, lambda: rows))
    health = client.get("/health").json()
    assert health["healthy"] is True
    assert {s["name"] for s in health["services"]} == {"postgres", "kafka", "registry", "questdb"}
    topics = client.get("/topics").json()
    assert "md.funding" in {t["topic"] for t in topics}
    assert client.get("/opportunities").json() == rows
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "python_info" in metrics.text
    page = client.get("/")
    assert "open opportunities" in page.text.lower()
