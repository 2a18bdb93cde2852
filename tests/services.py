"""The one place that gives tests a broker, registry, PostgreSQL and QuestDB.

- ``FUNDINGFLOW_TEST_STACK=local`` (set by ``make test``; CI): the local stack that
  ``make test`` started; every service must be healthy, else the test fails with the reason.
- unset: the local stack when it is healthy; otherwise, where a Docker engine answers,
  testcontainers starts the docker-compose services (same images, ports and settings);
  otherwise the test fails saying how to start a stack. Nothing is silently skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fundingflow.settings import Settings
from fundingflow.settings import load_settings
from fundingflow.stack.manager import Stack

REPO = Path(__file__).resolve().parent.parent
STACK_SERVICES = ("postgres", "kafka", "registry", "questdb")


@dataclass(frozen=True, slots=True)
class Endpoints:
    settings: Settings
    kafka_bootstrap: str
    registry_url: str
    postgres_conninfo: str
    questdb_http_url: str


def _endpoints(settings: Settings) -> Endpoints:
    return Endpoints(
        settings=settings,
        kafka_bootstrap=settings.kafka.bootstrap,
        registry_url=settings.registry.url,
        postgres_conninfo=settings.postgres.conninfo(),
        questdb_http_url=settings.questdb.http_url,
    )


def _unhealthy(settings: Settings) -> list[str]:
    return [f"{r.name}: {r.detail or 'down'}" for r in Stack(settings).status() if not r.healthy]


def _docker_engine() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "info"], capture_output=True, check=False, timeout=20)
    return probe.returncode == 0


@pytest.fixture(scope="session")
def services() -> Iterator[Endpoints]:
    settings = load_settings()
    mode = os.environ.get("FUNDINGFLOW_TEST_STACK", "")
    problems = _unhealthy(settings)
    if not problems:
        yield _endpoints(settings)
        return
    if mode == "local":
        pytest.fail(
            "FUNDINGFLOW_TEST_STACK=local but the stack is not healthy: " + "; ".join(problems)
        )
    if not _docker_engine():
        pytest.fail(
            "no healthy stack (" + "; ".join(problems) + ") and no Docker engine: "
            "run `make test`, or `fundingflow stack up` before pytest"
        )
    from testcontainers.compose import DockerCompose

    with DockerCompose(
        str(REPO), compose_file_name="docker-compose.yml", services=list(STACK_SERVICES), wait=True
    ):
        yield _endpoints(settings)
