"""A scratch PostgreSQL schema with the project's migrations, for ledger tests.

Each test gets its own schema on the stack's database (``search_path`` set on every
connection), so tests never see each other's rows nor touch the ``public`` tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg

from fundingflow.stack.migrations import apply_on
from processors.client_ids import OrderKey
from processors.client_ids import client_order_id
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.execution import OrderPurpose
from schemas.records.execution import SubmitOrder
from schemas.samples import sample

SPOT = InstrumentRef(exchange="sim", symbol="BTC/USDT", market_type=MarketType.SPOT)


@dataclass(frozen=True, slots=True)
class ScratchSchema:
    conninfo: str
    name: str

    @property
    def options(self) -> str:
        return f"-c search_path={self.name}"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo, options=self.options, **kwargs)


@contextmanager
def scratch_schema(conninfo: str, *, migrated: bool = True) -> Iterator[ScratchSchema]:
    schema = ScratchSchema(conninfo, f"ledger_test_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema.name}"')
    try:
        if migrated:
            with schema.connect() as conn:
                apply_on(conn)
        yield schema
    finally:
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema.name}" CASCADE')


def intent(
    decision: str,
    *,
    leg: int = 0,
    instrument: InstrumentRef = SPOT,
    size_base: Decimal = Decimal(1),
) -> SubmitOrder:
    """A sample entry order of slice 0 of ``leg`` of ``decision``, its client id derived from
    that key as the executor derives it."""
    return sample(SubmitOrder).model_copy(
        update={
            "client_order_id": client_order_id(OrderKey(decision, leg, 0)).hex,
            "signal_id": decision,
            "leg_index": leg,
            "slice_index": 0,
            "purpose": OrderPurpose.ENTRY,
            "instrument": instrument,
            "size_base": size_base,
        }
    )
