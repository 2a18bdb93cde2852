"""Fixtures for the simulated venue: clean worlds (no malformed payloads) at max speed."""

from __future__ import annotations

import pytest

from connectors.sim import SimExchange
from connectors.sim import SimWorld


@pytest.fixture
def world() -> SimWorld:
    return SimWorld.create(seed=42, speed="max", malformed={"rate": 0.0})


@pytest.fixture
async def binance(world: SimWorld) -> SimExchange:
    ex = world.exchange("sim-binance")
    await ex.load_markets()
    return ex


@pytest.fixture
async def okx(world: SimWorld) -> SimExchange:
    ex = world.exchange("sim-okx")
    await ex.load_markets()
    return ex
