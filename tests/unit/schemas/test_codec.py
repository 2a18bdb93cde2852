"""Codec: framing, typed errors on bad bytes, topic checks, schema evolution on decode."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal

import pytest

from schemas.avsc import schema_set
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.errors import EncodeError
from schemas.errors import InvalidEvent
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.execution import CancelOrder
from schemas.records.execution import SubmitOrder
from schemas.records.md import FundingRateUpdate
from schemas.records.md import Trade
from schemas.registry import InMemoryRegistry
from schemas.samples import sample
from schemas.topics import EXEC_COMMAND
from schemas.topics import MD_FUNDING
from schemas.topics import MD_TRADE


def funding(rate: str = "0.0001") -> FundingRateUpdate:
    return FundingRateUpdate(
        envelope=Envelope(event_id="e-1", event_time_ms=1_700_000_000_000, ingest_time_ms=1),
        instrument=InstrumentRef(
            exchange="binance", symbol="BTC/USDT:USDT", market_type=MarketType.PERP
        ),
        funding_rate=Decimal(rate),
        funding_interval_ms=28_800_000,
        next_funding_time_ms=1_700_000_800_000,
        mark_price=Decimal("65000.5"),
        index_price=Decimal("64999.9"),
    )


@pytest.fixture
def registry() -> InMemoryRegistry:
    return InMemoryRegistry()


@pytest.fixture
def codec(registry: InMemoryRegistry) -> Codec:
    return Codec(registry)


def test_encoded_bytes_use_the_confluent_frame(codec: Codec, registry: InMemoryRegistry) -> None:
    data = codec.encode(funding(), MD_FUNDING)
    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    assert json.loads(registry.schema_by_id(schema_id))["name"] == "FundingRateUpdate"
    assert codec.decode(data) == funding()


def test_decode_needs_the_registry_only_once_per_schema_id(registry: InMemoryRegistry) -> None:
    data = Codec(registry).encode(funding(), MD_FUNDING)
    calls: list[int] = []
    original = registry.schema_by_id

    def counting(schema_id: int) -> str:
        calls.append(schema_id)
        return original(schema_id)

    registry.schema_by_id = counting  # type: ignore[method-assign]
    reader = Codec(registry)
    for _ in range(3):
        reader.decode(data)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: b"", "UNDECODABLE"),
        (lambda d: d[:3], "UNDECODABLE"),
        (lambda d: b"\x01" + d[1:], "BAD_MAGIC_BYTE"),
        (lambda d: d[:1] + (999).to_bytes(4, "big") + d[5:], "UNKNOWN_SCHEMA_ID"),
        (lambda d: d[:-4], "UNDECODABLE"),
        (lambda d: d[:5], "UNDECODABLE"),
        (lambda d: d[:5] + b"\xff" * 40, "UNDECODABLE"),
        (lambda d: d + b"\x00\x01", "UNDECODABLE"),
    ],
    ids=[
        "empty",
        "short-header",
        "bad-magic",
        "unknown-id",
        "truncated",
        "no-body",
        "garbage",
        "trailing-bytes",
    ],
)
def test_bad_bytes_raise_a_typed_error_with_reason_and_raw(
    codec: Codec, mangle: Callable[[bytes], bytes], reason: str
) -> None:
    bad = mangle(codec.encode(funding(), MD_FUNDING))
    with pytest.raises(DecodeError) as caught:
        codec.decode(bad)
    assert caught.value.reason == reason
    assert caught.value.raw == bad
    assert isinstance(caught.value, InvalidEvent)


def test_decode_as_refuses_another_record_type(codec: Codec) -> None:
    data = codec.encode(funding(), MD_FUNDING)
    assert codec.decode_as(data, FundingRateUpdate) == funding()
    with pytest.raises(DecodeError) as caught:
        codec.decode_as(data, Trade)
    assert caught.value.reason == "WRONG_SCHEMA"


def test_decode_for_topic_refuses_a_record_the_topic_does_not_carry(codec: Codec) -> None:
    data = codec.encode(funding(), MD_FUNDING)
    with pytest.raises(DecodeError) as caught:
        codec.decode_for_topic(data, MD_TRADE)
    assert caught.value.reason == "WRONG_SCHEMA"


def test_encode_refuses_a_record_the_topic_does_not_carry(codec: Codec) -> None:
    with pytest.raises(EncodeError) as caught:
        codec.encode(funding(), MD_TRADE)
    assert caught.value.reason == "WRONG_SCHEMA"


def test_encode_refuses_an_unknown_topic(codec: Codec) -> None:
    with pytest.raises(EncodeError):
        codec.encode(funding(), "md.nope")


def test_encode_turns_an_unvalidated_bad_value_into_encode_error(codec: Codec) -> None:
    broken = FundingRateUpdate.model_construct(**{**dict(funding()), "funding_rate": "x"})
    with pytest.raises(EncodeError) as caught:
        codec.encode(broken, MD_FUNDING)
    assert caught.value.reason == "PROCESSING_ERROR"


def test_a_topic_with_several_record_types_round_trips_each(codec: Codec) -> None:
    for record in (sample(SubmitOrder), sample(CancelOrder)):
        assert codec.decode_for_topic(codec.encode(record, EXEC_COMMAND), EXEC_COMMAND) == record


def test_schema_whose_record_we_do_not_know_is_wrong_schema(
    codec: Codec, registry: InMemoryRegistry
) -> None:
    foreign = {"type": "record", "name": "Other", "namespace": "x", "fields": []}
    schema_id = registry.register("other-value", json.dumps(foreign))
    with pytest.raises(DecodeError) as caught:
        codec.decode(b"\x00" + schema_id.to_bytes(4, "big"))
    assert caught.value.reason == "WRONG_SCHEMA"


def test_old_writer_version_decodes_with_current_reader(
    codec: Codec, registry: InMemoryRegistry
) -> None:
    """A message written before a field existed reads back with the field's default."""
    import io

    import fastavro

    current = schema_set().expand("fundingflow.md.FundingRateUpdate")
    old = {
        **current,
        "fields": [f for f in current["fields"] if f["name"] != "predicted_next_funding_rate"],
    }
    schema_id = registry.register("md.funding-value", json.dumps(old))
    body = io.BytesIO()
    datum = {k: v for k, v in funding().to_avro().items() if k != "predicted_next_funding_rate"}
    fastavro.schemaless_writer(body, fastavro.parse_schema(old), datum)
    decoded = codec.decode(b"\x00" + schema_id.to_bytes(4, "big") + body.getvalue())
    assert decoded == funding()
    assert isinstance(decoded, FundingRateUpdate)
    assert decoded.predicted_next_funding_rate is None


def test_decimals_with_more_than_18_places_round_half_even_before_encoding(codec: Codec) -> None:
    record = funding("0.0000000000000000125")
    assert record.funding_rate == Decimal("0.000000000000000012")
    assert codec.decode(codec.encode(record, MD_FUNDING)) == record


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e20", "-1e21"])
def test_decimals_that_do_not_fit_38_18_are_refused_on_construction(value: str) -> None:
    with pytest.raises(ValueError, match=r"finite|digits"):
        funding(value)
