"""Shared fixtures: real services come from tests/services.py only."""

from __future__ import annotations

import decimal
import logging
from collections.abc import Iterator

import pytest
import structlog

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


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """Logging as it was before each test: a test that configures it as the CLI does (an
    in-process ``main([...])``: structlog's configuration, a root handler on the test's captured
    stderr, closed after the test) must not leak that into later tests."""
    was_configured, saved = structlog.is_configured(), structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        if was_configured:
            structlog.configure(**saved)
        else:
            structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.fixture(autouse=True)
def restore_decimal_context() -> Iterator[None]:
    """Each test starts in a default decimal context: ccxt's ``decimal_to_precision`` sets the
    calling thread's rounding to half-up and traps Underflow for good, which changed later
    tests' figures (the synthetic books of a benchmark test) in a full run."""
    with decimal.localcontext(decimal.Context()):
        yield
