"""Typed codec errors; ``reason`` is a ``DeadLetterReason`` symbol so a DLQ record can carry it."""

from __future__ import annotations

from fundingflow.errors import InvalidEvent


class DecodeError(InvalidEvent):
    """Bytes that do not decode to a record expected here."""


class EncodeError(InvalidEvent):
    """A record that cannot be encoded for the topic it was sent to."""


class SchemaLookupError(LookupError):
    """The registry knows no schema under this id or subject (registries raise it)."""


class IncompatibleSchema(Exception):  # noqa: N818 - names the refused thing, like InvalidEvent
    """The registry refused a schema under the subject's compatibility level."""
