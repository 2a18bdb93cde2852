"""Offline compatibility checks, with planted incompatible twins."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from schemas.avsc import schema_set
from schemas.compatibility import compatibility_problems
from schemas.compatibility import policy_problems
from schemas.compatibility import reader_problems
from schemas.errors import IncompatibleSchema
from schemas.golden import read_golden
from schemas.registry import InMemoryRegistry
from schemas.registry import check_all
from schemas.registry import register_all
from schemas.subjects import COMPATIBILITY
from schemas.subjects import check_offline
from schemas.subjects import release

GOLDEN_DIR = Path(__file__).parents[2] / "golden"


def funding() -> dict[str, Any]:
    return copy.deepcopy(schema_set().expand("fundingflow.md.FundingRateUpdate"))


def without_field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {**schema, "fields": [f for f in schema["fields"] if f["name"] != name]}


def market_type(schema: dict[str, Any]) -> dict[str, Any]:
    instrument = next(f for f in schema["fields"] if f["name"] == "instrument")["type"]
    field: dict[str, Any] = next(f for f in instrument["fields"] if f["name"] == "market_type")
    enum: dict[str, Any] = field["type"]
    return enum


def test_repository_schemas_are_compatible_with_every_released_version() -> None:
    assert check_offline() == []


def test_removing_a_field_without_default_is_refused() -> None:
    old = funding()
    new = without_field(old, "mark_price")
    assert compatibility_problems(new, old, COMPATIBILITY)
    assert not compatibility_problems(new, old, "BACKWARD_TRANSITIVE")  # why FULL is needed


def test_adding_an_enum_symbol_to_an_enum_without_default_is_refused() -> None:
    old = funding()
    del market_type(old)["default"]
    new = copy.deepcopy(old)
    market_type(new)["symbols"].append("MOVE_CONTRACT")
    assert compatibility_problems(new, old, COMPATIBILITY)
    assert policy_problems(new) == ["fundingflow.common.MarketType: enum has no default symbol"]


def test_adding_an_enum_symbol_to_an_enum_with_default_is_accepted() -> None:
    old = funding()
    new = copy.deepcopy(old)
    market_type(new)["symbols"].append("MOVE_CONTRACT")
    assert compatibility_problems(new, old, COMPATIBILITY) == []


def test_adding_a_field_needs_a_default() -> None:
    old = funding()
    added = {"name": "open_interest_base", "type": "long"}
    assert compatibility_problems({**old, "fields": [*old["fields"], added]}, old, COMPATIBILITY)
    added_with_default = {**added, "type": ["null", "long"], "default": None}
    fields = [*old["fields"], added_with_default]
    assert compatibility_problems({**old, "fields": fields}, old, COMPATIBILITY) == []


@pytest.mark.parametrize(
    ("reader", "writer", "ok"),
    [
        ("long", "int", True),
        ("int", "long", False),
        ("double", "long", True),
        ("string", "bytes", True),
        (["null", "string"], "string", True),
        ("string", ["null", "string"], False),
    ],
)
def test_primitive_promotions_follow_the_avro_spec(reader: Any, writer: Any, ok: bool) -> None:
    assert (reader_problems(reader, writer) == []) is ok


def test_changing_decimal_scale_is_refused() -> None:
    old = funding()
    new = copy.deepcopy(old)
    next(f for f in new["fields"] if f["name"] == "mark_price")["type"]["scale"] = 8
    assert compatibility_problems(new, old, COMPATIBILITY)


def test_offline_check_reads_history_files(tmp_path: Path) -> None:
    release(tmp_path)
    assert check_offline(tmp_path) == []
    path = tmp_path / "md.funding-value" / "v1.avsc"
    old = json.loads(path.read_text())
    old["fields"].append({"name": "gone", "type": "string"})
    path.write_text(json.dumps(old))
    assert any("md.funding-value v1" in p for p in check_offline(tmp_path))


def test_in_memory_registry_refuses_the_twin_and_accepts_the_same_schema_again() -> None:
    registry = InMemoryRegistry()
    ids = register_all(registry)
    assert register_all(registry) == ids
    assert check_all(registry) == []
    twin = json.dumps(without_field(funding(), "mark_price"))
    assert not registry.is_compatible("md.funding-value", twin)
    with pytest.raises(IncompatibleSchema):
        registry.register("md.funding-value", twin)


def test_every_golden_message_decodes_with_the_current_reader() -> None:
    paths = sorted(GOLDEN_DIR.glob("*/v*.bin"))
    assert paths
    for path in paths:
        record = read_golden(path)
        expected = json.loads(path.with_suffix(".json").read_text())
        from schemas.rendering import to_jsonable

        assert _is_subset(expected, to_jsonable(record)), path


def _is_subset(expected: Any, actual: Any) -> bool:
    """Every value written then is still read back; fields added since are ignored."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _is_subset(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(map(_is_subset, expected, actual))
    return bool(expected == actual)
