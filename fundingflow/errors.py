"""The error hierarchy shared by every package.

This module is dependency-free on purpose: every layer may raise these errors, so
importing it must never pull in the rest of the shell.
"""

from __future__ import annotations


class FundingflowError(Exception):
    """Base class of every error raised on purpose by fundingflow."""


class InvalidEvent(FundingflowError):  # noqa: N818 - the name states what was received
    """Bad input: a payload, record or message that cannot be accepted.

    ``reason`` is a stable machine-readable code, ``detail`` a human sentence and
    ``raw`` the offending bytes, kept as is for the dead-letter record.
    """

    def __init__(self, reason: str, detail: str, raw: bytes = b"") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.raw = raw


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
