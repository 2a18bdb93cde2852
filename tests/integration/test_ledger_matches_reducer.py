"""The ledger stores exactly what the pure reducer computes, over random report sequences."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from executors.ledger import Ledger
from processors.orders import Output
from processors.orders import Refused
from processors.orders import Report
from processors.orders import apply
from processors.orders import new_order
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.execution import SubmitOrder
from tests.ledger_db import ScratchSchema
from tests.ledger_db import intent
from tests.ledger_db import scratch_schema
from tests.property.test_order_state_machine import reports
from tests.property.test_order_state_machine import sizes

pytestmark = pytest.mark.integration

T = 1_767_225_600_000
DECISIONS = itertools.count()


@pytest.fixture(scope="module")
def schema(postgres_conninfo: str) -> Iterator[ScratchSchema]:
    with scratch_schema(postgres_conninfo) as scratch:
        yield scratch


@pytest.fixture(scope="module")
def ledger(schema: ScratchSchema) -> Iterator[Ledger]:
    with Ledger(schema.connect()) as book:
        yield book


@st.composite
def lives(draw: st.DrawFn) -> tuple[Decimal, list[Report]]:
    size = draw(sizes)
    return size, draw(st.lists(reports(size), max_size=12))


def new_intent(size: Decimal) -> SubmitOrder:
    """A fresh intent (its own decision id) of ``size`` base units."""
    eth = InstrumentRef(exchange="sim", symbol="ETH/USDT", market_type=MarketType.SPOT)
    return intent(f"model-{next(DECISIONS)}", instrument=eth, size_base=size)


def comparable(output: Output) -> object:
    """An output with a refusal reduced to its code (its text prints decimals as stored)."""
    return output.code if isinstance(output, Refused) else output


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lives())
def test_stored_states_and_transitions_equal_the_reducer(
    ledger: Ledger, life: tuple[Decimal, list[Report]]
) -> None:
    size, sequence = life
    order = new_intent(size)
    cid = order.client_order_id
    expected = new_order(cid, order.size_base)
    assert ledger.record_intent(order, now_ms=T) == expected
    changes = 0
    for step, report in enumerate(sequence, start=1):
        stored, stored_outputs = ledger.apply(cid, report, now_ms=T + step)
        after, outputs = apply(expected, report)
        assert stored == after
        assert [comparable(o) for o in stored_outputs] == [comparable(o) for o in outputs]
        if after != expected and not any(isinstance(o, Refused) for o in outputs):
            changes += 1
        expected = after
        assert ledger.get(cid) == expected
    steps = ledger.transitions(cid)
    assert [t.seq for t in steps] == list(range(changes + 1))
    assert steps[-1].to_status is expected.status
    assert steps[-1].filled_base == expected.filled_base
