"""Human and JSON renderings of decoded records and decode errors (``fundingflow topics tail``)."""

from __future__ import annotations

import base64
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from schemas.avro_record import AvroRecord
from schemas.errors import InvalidEvent
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef

MAX_LINE = 240


def decimal_text(value: Decimal) -> str:
    """Plain text of a decimal without trailing zeros or exponent: 1.5, 100, -0.0001."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def to_jsonable(value: Any) -> Any:
    """JSON-able form: records as dicts, Decimal as string, bytes as base64, enums as names."""
    if isinstance(value, AvroRecord):
        return {name: to_jsonable(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [to_jsonable(item) for item in value]
    return value


def _time_text(epoch_ms: int) -> str:
    try:
        moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return f"{epoch_ms}ms"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _short(value: Any) -> str:
    if isinstance(value, InstrumentRef):
        return f"{value.exchange}:{value.symbol}"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, tuple):
        return f"[{len(value)}]"
    if isinstance(value, AvroRecord):
        return "{…}"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def record_line(record: AvroRecord) -> str:
    """One line: type, event time, then every non-null top-level field but the envelope."""
    parts = [type(record).__name__]
    envelope = getattr(record, "envelope", None)
    if isinstance(envelope, Envelope):
        parts.append(_time_text(envelope.event_time_ms))
    for name in type(record).model_fields:
        value = getattr(record, name)
        if name == "envelope" or value is None:
            continue
        parts.append(f"{name}={_short(value)}")
    line = " ".join(parts)
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def error_line(error: InvalidEvent) -> str:
    """One line for a message that did not decode."""
    return f"!{error.reason} {error.detail} ({len(error.raw)} bytes)"


def render(item: AvroRecord | InvalidEvent) -> tuple[str, dict[str, Any]]:
    """(one-line human text, JSON-able dict) of a decoded record or a decode error."""
    if isinstance(item, InvalidEvent):
        as_json = {
            "error": item.reason,
            "detail": item.detail,
            "raw": base64.b64encode(item.raw).decode("ascii"),
        }
        return error_line(item), as_json
    return record_line(item), {"type": item.AVRO_NAME, "record": to_jsonable(item)}
