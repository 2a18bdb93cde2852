"""Deterministic sample records built from the schemas (golden messages, demos, benchmarks)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from typing import TypeVar

from schemas.avro_record import AvroRecord
from schemas.avsc import PRIMITIVES
from schemas.avsc import full_name
from schemas.avsc import schema_set
from schemas.records import RECORDS_BY_AVRO_NAME

R = TypeVar("R", bound=AvroRecord)
_PRIMITIVE_SAMPLES: dict[str, Any] = {
    "boolean": True,
    "int": 7,
    "long": 1_700_000_000_000,
    "float": 0.5,
    "double": 0.5,
    "string": "sample",
    "bytes": b"\x00sample\xff",
}


def sample(record_type: type[R]) -> R:
    """A valid ``record_type`` with every nullable field set and two items per array."""
    value = _sample(record_type.AVRO_NAME, "", "")
    return record_type.model_validate(value)


def _sample(node: Any, namespace: str, field_name: str) -> Any:
    if isinstance(node, list):
        branch = next(b for b in node if b != "null")
        return _sample(branch, namespace, field_name)
    if isinstance(node, str):
        if node in PRIMITIVES:
            if node == "string":
                return f"{field_name}-1"
            return _PRIMITIVE_SAMPLES[node]
        name = full_name(node, namespace)
        return _sample(schema_set().definitions[name], name.rpartition(".")[0], field_name)
    if node.get("logicalType") == "decimal":
        return Decimal("65000.123456789012345678")
    kind = node["type"]
    if kind == "enum":
        return node["symbols"][1]
    if kind == "array":
        return [_sample(node["items"], namespace, field_name) for _ in range(2)]
    if kind == "record":
        name = full_name(node["name"], node.get("namespace", namespace))
        inner = name.rpartition(".")[0]
        fields = {f["name"]: _sample(f["type"], inner, f["name"]) for f in node["fields"]}
        return RECORDS_BY_AVRO_NAME[name].model_validate(fields)
    return _sample(kind, namespace, field_name)
