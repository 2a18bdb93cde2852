"""One-line and JSON renderings for ``topics tail``."""

from __future__ import annotations

import json
from decimal import Decimal

from schemas.errors import DecodeError
from schemas.records.dlq import DeadLetterReason
from schemas.records.md import FundingRateUpdate
from schemas.rendering import decimal_text
from schemas.rendering import render
from schemas.samples import sample


def test_record_renders_to_one_line_and_json() -> None:
    line, as_json = render(sample(FundingRateUpdate))
    assert "\n" not in line
    assert line.startswith("FundingRateUpdate 2023-11-14T22:13:20.000Z")
    assert "funding_rate=65000.123456789012345678" in line
    assert as_json["record"]["mark_price"] == "65000.123456789012345678"
    json.dumps(as_json)


def test_decode_error_renders_reason_and_raw() -> None:
    line, as_json = render(
        DecodeError(DeadLetterReason.BAD_MAGIC_BYTE, "expected magic byte 0, was 7", b"\x07x")
    )
    assert line.startswith("!BAD_MAGIC_BYTE")
    assert as_json == {
        "error": "BAD_MAGIC_BYTE",
        "detail": "expected magic byte 0, was 7",
        "raw": "B3g=",
    }


def test_decimal_text_drops_scale_padding_without_exponents() -> None:
    assert decimal_text(Decimal("1.500000000000000000")) == "1.5"
    assert decimal_text(Decimal("100.000000000000000000")) == "100"
    assert decimal_text(Decimal("0E-18")) == "0"
    assert decimal_text(Decimal("-0.000100000000000000")) == "-0.0001"
