"""The error hierarchy shared by every package, at the bottom layer so every layer may raise it.

``InvalidEvent.reason`` is a :class:`DeadLetterReason`: the one spelling of why an input was
refused, carried as is by the dead-letter record. This module imports nothing of the shell.
"""

from __future__ import annotations

from schemas.records.dlq import DeadLetterReason


class FundingflowError(Exception):
    """Base class of every error raised on purpose by fundingflow."""


class InvalidEvent(FundingflowError):  # noqa: N818 - the name states what was received
    """Bad input: a payload, record or message that cannot be accepted.

    ``reason`` is the dead-letter reason (a :class:`DeadLetterReason` member, never a string),
    ``detail`` a human sentence and ``raw`` the offending bytes, kept as is for the dead-letter
    record.
    """

    def __init__(self, reason: DeadLetterReason, detail: str, raw: bytes = b"") -> None:
        if not isinstance(reason, DeadLetterReason):
            raise TypeError(f"reason must be a DeadLetterReason, was {reason!r}")
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.raw = raw


class DecodeError(InvalidEvent):
    """Bytes that do not decode to a record expected here."""


class EncodeError(InvalidEvent):
    """A record that cannot be encoded for the topic it was sent to."""


class SchemaLookupError(LookupError):
    """The registry knows no schema under this id or subject (registries raise it)."""


class IncompatibleSchema(Exception):  # noqa: N818 - names the refused thing, like InvalidEvent
    """The registry refused a schema under the subject's compatibility level."""


class ConfigError(FundingflowError):
    """Configuration that cannot be used (bad value, missing file, unknown key)."""


class StackError(FundingflowError):
    """A local stack service could not be installed, started or reached."""


class VenueError(FundingflowError):
    """An exchange call failed."""


class VenueTransient(VenueError):  # noqa: N818
    """Retry with bounded, jittered backoff (network errors, rate limits, 5xx)."""


class VenueRejected(VenueError):  # noqa: N818
    """The venue definitively refused the request; never retried."""


class OutcomeUnknown(VenueError):  # noqa: N818
    """The request may or may not have taken effect; reconcile, never retry blindly."""


class VenueOrderNotFound(VenueRejected):
    """The venue has no order with that id (yet: a venue may show a new order late)."""
