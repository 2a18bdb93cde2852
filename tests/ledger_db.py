"""A scratch PostgreSQL schema with the project's migrations, for ledger tests.

Each test gets its own schema on the stack's database (``search_path`` set on every
connection), so tests never see each other's rows nor touch the ``public`` tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from fundingflow.stack.migrations import apply_on


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
