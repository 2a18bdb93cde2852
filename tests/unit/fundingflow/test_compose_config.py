"""docker-compose.yml is valid for `docker compose`: loaded by compose-go, its own loader.

There is no Docker engine (nor compose plugin) on this machine kind; compose-go — the library
`docker compose config` runs — is built from the Go module proxy into .local/bin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
CHECK_SRC = REPO / "fundingflow" / "stack" / "compose" / "check"
CHECK_BIN = REPO / ".local" / "bin" / "compose-check"


@pytest.fixture(scope="module")
def normalized() -> dict[str, Any]:
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to build the compose checker (compose-go); install golang")
    sources = [CHECK_SRC / n for n in ("main.go", "go.mod", "go.sum")]
    newest = max(p.stat().st_mtime for p in sources)
    if not CHECK_BIN.is_file() or CHECK_BIN.stat().st_mtime < newest:
        CHECK_BIN.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [go, "build", "-o", str(CHECK_BIN), "."], cwd=CHECK_SRC, check=True, timeout=600
        )
    result = subprocess.run(
        [str(CHECK_BIN), str(REPO / "docker-compose.yml")],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    project: dict[str, Any] = json.loads(result.stdout)
    return project


def test_compose_file_loads_with_compose_go(normalized: dict[str, Any]) -> None:
    assert normalized["name"] == "fundingflow"
    services = normalized["services"]
    for name in ("kafka", "registry", "postgres", "questdb", "kafka-ui", "prometheus", "grafana"):
        assert name in services, name


def test_published_ports_are_loopback_only(normalized: dict[str, Any]) -> None:
    for name, service in normalized["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", (name, port)


def test_application_services_build_from_the_repository(normalized: dict[str, Any]) -> None:
    for name in ("connectors", "worker", "sinks", "api", "init"):
        service = normalized["services"][name]
        assert service["build"]["dockerfile"] == "Dockerfile", name
        assert Path(service["build"]["context"]).resolve() == REPO, name
