"""Codec typed errors: bytes without the Confluent magic byte are refused as BAD_MAGIC_BYTE.

Guard: the ``data[0] != MAGIC_BYTE`` check at the top of :meth:`schemas.codec.Codec.decode`.
The twin makes that check accept the corrupt byte by patching ``schemas.codec.MAGIC_BYTE`` to
it after encoding. Oracle: the record a consumer would dead-letter: a ``DecodeError`` whose
reason is ``BAD_MAGIC_BYTE`` and whose raw bytes are the input.

Without the check the codec does not crash (every later failure is still a ``DecodeError``);
it fails in the two quieter ways below: a corrupt frame decodes to a record as if valid, and
a payload in another format (JSON) is dead-lettered under the wrong reason.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from schemas import codec as codec_module
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.md import FundingRateUpdate
from schemas.registry import InMemoryRegistry
from schemas.topics import MD_FUNDING

pytestmark = pytest.mark.fault

RECORD = FundingRateUpdate(
    envelope=Envelope(event_id="e-1", event_time_ms=1_700_000_000_000, ingest_time_ms=1),
    instrument=InstrumentRef(exchange="okx", symbol="BTC/USDT:USDT", market_type=MarketType.PERP),
    funding_rate=Decimal("0.0001"),
    funding_interval_ms=28_800_000,
    next_funding_time_ms=1_700_000_800_000,
    mark_price=Decimal("65000.5"),
)
JSON_PAYLOAD = json.dumps({"event_id": "e-1", "funding_rate": "0.0001"}).encode()


def framed() -> tuple[Codec, bytes]:
    codec = Codec(InMemoryRegistry())
    return codec, codec.encode(RECORD, MD_FUNDING)


def corrupt(data: bytes, first: int) -> bytes:
    return bytes([first]) + data[1:]


@pytest.mark.parametrize("first", [1, 0x7F, 0xFF])
def test_a_bad_magic_byte_is_a_typed_decode_error(first: int) -> None:
    codec, data = framed()
    assert codec.decode(data) == RECORD
    bad = corrupt(data, first)
    with pytest.raises(DecodeError) as refused:
        codec.decode(bad)
    assert refused.value.reason == "BAD_MAGIC_BYTE"
    assert refused.value.raw == bad


def test_a_json_payload_is_a_bad_magic_byte() -> None:
    codec, _ = framed()
    with pytest.raises(DecodeError) as refused:
        codec.decode(JSON_PAYLOAD)
    assert refused.value.reason == "BAD_MAGIC_BYTE"


@pytest.mark.parametrize("first", [1, 0x7F, 0xFF])
def test_twin_without_the_magic_check_a_corrupt_frame_decodes_as_valid(
    monkeypatch: pytest.MonkeyPatch, first: int
) -> None:
    codec, data = framed()
    monkeypatch.setattr(codec_module, "MAGIC_BYTE", first)
    assert codec.decode(corrupt(data, first)) == RECORD  # accepted, never dead-lettered


def test_twin_without_the_magic_check_a_json_payload_gets_the_wrong_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    codec, _ = framed()
    monkeypatch.setattr(codec_module, "MAGIC_BYTE", JSON_PAYLOAD[0])
    with pytest.raises(DecodeError) as refused:
        codec.decode(JSON_PAYLOAD)
    assert refused.value.reason == "UNKNOWN_SCHEMA_ID"  # '"eve' read as a schema id
