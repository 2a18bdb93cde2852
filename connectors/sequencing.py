"""Book sequence checks: out-of-order, duplicate and (for contiguous streams) gaps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from schemas.records.dlq import DeadLetterReason

Digest = int | Callable[[], int]
"""A digest of the book's levels, or a function computing it (called only to tell a repeat of
the last accepted book from a duplicate nonce, so most books never pay for it)."""


def _value(digest: Digest | None) -> int | None:
    return digest() if callable(digest) else digest


@dataclass(slots=True)
class BookSequencer:
    """Tracks the last accepted book nonce of one instrument.

    ``contiguous`` is a venue fact: its stream numbers every update ``n, n+1, ...`` so a jump
    is a lost update. Snapshot polling is never contiguous (a poll skips many updates).
    An exact repeat of the last accepted book (same nonce, same levels) is a quiet market, not
    a fault: :meth:`check` returns ``"unchanged"`` and the caller drops it silently.
    """

    contiguous: bool = False
    last: int | None = None
    _last_digest: Digest | None = field(default=None, repr=False)
    _floor: int | None = field(default=None, repr=False)

    def check(self, nonce: int | None, digest: Digest) -> DeadLetterReason | str | None:
        """None to accept, ``"unchanged"`` to drop silently, or the refusal reason.

        After a resync, stream updates at or below the snapshot's nonce are older than the
        snapshot (the stream lagged it): dropped silently, as every venue's book recipe says.
        """
        if self._floor is not None:
            if nonce is not None and nonce <= self._floor:
                return "unchanged"
            self._floor = None
        if nonce is None or self.last is None:
            self._accept(nonce, digest)
            return None
        if nonce == self.last:
            return (
                "unchanged"
                if _value(digest) == _value(self._last_digest)
                else DeadLetterReason.DUPLICATE_SEQUENCE
            )
        if nonce < self.last:
            return DeadLetterReason.OUT_OF_ORDER_SEQUENCE
        if self.contiguous and nonce != self.last + 1:
            self.last = None  # the resync snapshot starts a new run
            return DeadLetterReason.SEQUENCE_GAP
        self._accept(nonce, digest)
        return None

    def reset(self, nonce: int | None, digest: Digest) -> None:
        """Start over from a fresh snapshot (after a gap or a reconnect)."""
        self._accept(nonce, digest)
        self._floor = nonce

    def _accept(self, nonce: int | None, digest: Digest) -> None:
        self.last = nonce
        self._last_digest = digest
