"""Property tests of the codec: round trip of every record, and fuzzed bytes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from schemas.avro_record import AvroRecord
from schemas.avsc import PRIMITIVES
from schemas.avsc import full_name
from schemas.avsc import schema_set
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.records import RECORDS_BY_AVRO_NAME
from schemas.registry import InMemoryRegistry
from schemas.samples import sample
from schemas.scalars import DECIMAL_MAX
from schemas.scalars import INT_MAX
from schemas.scalars import INT_MIN
from schemas.scalars import LONG_MAX
from schemas.scalars import LONG_MIN
from schemas.topics import SUBJECTS
from schemas.topics import by_name

_DECIMAL_MAX = DECIMAL_MAX
_DECIMAL_MIN = DECIMAL_MAX.copy_negate()
_PRIMITIVE_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "boolean": st.booleans(),
    "int": st.integers(INT_MIN, INT_MAX),
    "long": st.integers(LONG_MIN, LONG_MAX),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "string": st.text(max_size=20),
    "bytes": st.binary(max_size=20),
}
_DECIMALS = st.one_of(
    st.decimals(_DECIMAL_MIN, _DECIMAL_MAX, allow_nan=False, allow_infinity=False),
    st.decimals(_DECIMAL_MIN, _DECIMAL_MAX, places=18),
    st.decimals(Decimal(-1), Decimal(1), places=30),
    st.sampled_from([Decimal(0), Decimal("-0"), Decimal("1e-18"), _DECIMAL_MAX, _DECIMAL_MIN]),
)


def strategy_for(node: Any, namespace: str = "") -> st.SearchStrategy[Any]:
    """Values of an Avro type in the form the generated records accept, walking the .avsc."""
    if isinstance(node, list):
        return st.one_of(*(strategy_for(branch, namespace) for branch in node))
    if isinstance(node, str):
        if node == "null":
            return st.none()
        if node in PRIMITIVES:
            return _PRIMITIVE_STRATEGIES[node]
        name = full_name(node, namespace)
        return strategy_for(schema_set().definitions[name], name.rpartition(".")[0])
    if node.get("logicalType") == "decimal":
        return _DECIMALS
    kind = node["type"]
    if kind == "enum":
        return st.sampled_from(node["symbols"])
    if kind == "array":
        return st.lists(strategy_for(node["items"], namespace), max_size=3)
    if kind == "record":
        name = full_name(node["name"], node.get("namespace", namespace))
        inner = name.rpartition(".")[0]
        fields = {f["name"]: strategy_for(f["type"], inner) for f in node["fields"]}
        return st.fixed_dictionaries(fields).map(RECORDS_BY_AVRO_NAME[name].model_validate)
    return strategy_for(kind, namespace)


def records(record_type: type[AvroRecord]) -> st.SearchStrategy[AvroRecord]:
    return strategy_for(record_type.AVRO_NAME)


TOPIC_RECORDS = [(spec.name, record) for spec in SUBJECTS for record in spec.value_records]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(InMemoryRegistry())


@pytest.mark.parametrize(("topic", "record_type"), TOPIC_RECORDS, ids=lambda v: str(v))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_decode_of_encode_is_identity(
    codec: Codec, topic: str, record_type: type[AvroRecord], data: st.DataObject
) -> None:
    record = data.draw(records(record_type))
    decoded = codec.decode_for_topic(codec.encode(record, topic), topic)
    assert decoded == record
    assert type(decoded) is record_type


def decode_error(codec: Codec, data: bytes) -> DecodeError | None:
    """The DecodeError ``data`` raises, or None when it decodes; anything else propagates."""
    try:
        codec.decode(data)
    except DecodeError as e:
        return e
    return None


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_random_bytes_raise_only_decode_error(codec: Codec, data: bytes) -> None:
    error = decode_error(codec, data)
    if error is not None:
        assert error.raw == data
        assert error.reason in {
            "UNDECODABLE",
            "BAD_MAGIC_BYTE",
            "UNKNOWN_SCHEMA_ID",
            "WRONG_SCHEMA",
        }


@pytest.mark.parametrize("topic", [spec.name for spec in SUBJECTS if spec.family != "dlq"])
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300))
def test_random_body_after_a_valid_header_raises_only_decode_error(
    codec: Codec, topic: str, body: bytes
) -> None:
    header = codec.encode(sample(by_name(topic).value_records[0]), topic)[:5]
    error = decode_error(codec, header + body)
    assert error is None or error.reason == "UNDECODABLE"
