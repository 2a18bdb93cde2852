"""Execution schema v2: OrderStatus NEW/EXPIRED and SubmitOrder.purpose, read across versions."""

from __future__ import annotations

import copy
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro
import pytest

from schemas.compatibility import compatibility_problems
from schemas.golden import read_golden
from schemas.records.execution import OrderEvent
from schemas.records.execution import OrderPurpose
from schemas.records.execution import OrderStatus
from schemas.records.execution import SubmitOrder
from schemas.samples import sample
from schemas.subjects import COMPATIBILITY
from schemas.subjects import history

GOLDEN_DIR = Path(__file__).parents[2] / "golden"


def released(version: int, subject: str = "exec.order_event-value") -> Any:
    return dict(history(subject))[version]


def status_enum(schema: dict[str, Any]) -> dict[str, Any]:
    field = next(f for f in schema["fields"] if f["name"] == "status")
    enum: dict[str, Any] = field["type"]
    return enum


@pytest.mark.parametrize("status", [OrderStatus.NEW, OrderStatus.EXPIRED])
def test_a_v1_reader_reads_a_new_status_as_unknown(status: OrderStatus) -> None:
    event = sample(OrderEvent).model_copy(update={"status": status})
    buffer = BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(released(2)), event.to_avro())
    buffer.seek(0)
    datum = fastavro.schemaless_reader(
        buffer, fastavro.parse_schema(released(2)), fastavro.parse_schema(released(1))
    )
    assert isinstance(datum, dict)
    assert datum["status"] == "UNKNOWN"
    assert datum["client_order_id"] == event.client_order_id


def test_v2_only_appends_symbols() -> None:
    old, new = status_enum(released(1))["symbols"], status_enum(released(2))["symbols"]
    assert new[: len(old)] == old
    assert new[len(old) :] == ["NEW", "EXPIRED"]


def test_the_same_change_without_an_enum_default_is_refused() -> None:
    old, new = copy.deepcopy(released(1)), copy.deepcopy(released(2))
    del status_enum(old)["default"]
    del status_enum(new)["default"]
    assert compatibility_problems(new, old, COMPATIBILITY)
    assert compatibility_problems(released(2), released(1), COMPATIBILITY) == []


def test_a_v1_submit_order_reads_as_an_entry() -> None:
    record = read_golden(GOLDEN_DIR / "exec.command-value" / "v1-SubmitOrder.bin")
    assert isinstance(record, SubmitOrder)
    assert record.purpose is OrderPurpose.ENTRY


def test_a_v1_reader_reads_a_v2_submit_order_without_its_purpose() -> None:
    order = sample(SubmitOrder).model_copy(update={"purpose": OrderPurpose.UNWIND})
    writer, reader = released(2, "exec.command-value"), released(1, "exec.command-value")
    buffer = BytesIO()
    fastavro.schemaless_writer(
        buffer, fastavro.parse_schema(writer), (order.AVRO_NAME, order.to_avro())
    )
    buffer.seek(0)
    datum = fastavro.schemaless_reader(
        buffer,
        fastavro.parse_schema(writer),
        fastavro.parse_schema(reader),
        return_record_name=True,
        return_record_name_override=True,
    )
    assert isinstance(datum, tuple)
    name, fields = datum
    assert name == order.AVRO_NAME
    assert "purpose" not in fields
    assert fields["client_order_id"] == order.client_order_id
