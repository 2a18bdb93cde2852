"""The PostgreSQL store's COPY: rows built as they stream, kept for a retry into the staging
table, and a retry after a COPY refused half way sends every row once, in order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connectors.storage.postgres_store import copy_rows
from connectors.storage.relational import BY_TOPIC
from connectors.storage.stores import Consumed
from schemas.records.portfolio import PnlSnapshot
from tests.event_stores import events

TOPIC = "portfolio.pnl"


class FakeCopy:
    def __init__(self) -> None:
        self.written: list[tuple[Any, ...]] = []

    def write_row(self, row: tuple[Any, ...]) -> None:
        self.written.append(row)


class FakeCursor:
    def __init__(self) -> None:
        self.copies: list[FakeCopy] = []

    @contextmanager
    def copy(self, _statement: object) -> Iterator[FakeCopy]:
        copy = FakeCopy()
        self.copies.append(copy)
        yield copy


def items(count: int) -> list[Consumed]:
    return [Consumed(r, TOPIC, 0, i) for i, r in enumerate(events(PnlSnapshot, count))]


def test_every_row_is_built_once_kept_and_copied_in_order() -> None:
    table, batch, cur = BY_TOPIC[TOPIC], items(5), FakeCursor()
    rows: list[tuple[Any, ...]] = []
    copy_rows(cur, None, table, batch, rows)  # type: ignore[arg-type]
    assert rows == [table.row(i) for i in batch]
    assert cur.copies[0].written == rows


def test_a_retry_after_a_half_built_copy_sends_each_row_once() -> None:
    table, batch, cur = BY_TOPIC[TOPIC], items(6), FakeCursor()
    rows = [table.row(i) for i in batch[:2]]  # the refused COPY had built two rows
    copy_rows(cur, None, table, batch, rows)  # type: ignore[arg-type]
    expected = [table.row(i) for i in batch]
    assert cur.copies[0].written == expected
    assert rows == expected
