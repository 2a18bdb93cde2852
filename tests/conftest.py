"""Shared fixtures: real services come from tests/services.py only."""

from __future__ import annotations

import pytest

from tests.services import Endpoints
from tests.services import services

__all__ = ["services"]


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Endpoints) -> str:
    return services.kafka_bootstrap


@pytest.fixture(scope="session")
def schema_registry_url(services: Endpoints) -> str:
    return services.registry_url


@pytest.fixture(scope="session")
def postgres_conninfo(services: Endpoints) -> str:
    return services.postgres_conninfo


@pytest.fixture(scope="session")
def questdb_http_url(services: Endpoints) -> str:
    return services.questdb_http_url
