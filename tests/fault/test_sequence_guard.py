"""Sequence guard: duplicate and out-of-order book nonces never reach ``md.book``.

Guard: :meth:`connectors.sequencing.BookSequencer.check`, which the venue's book stream asks
before normalizing; a refusal goes to ``dlq.md`` with its reason, an exact repeat of the last
book (a quiet market) is dropped silently. Oracle: StreamOracle-style counts over the nonces
published on ``md.book``: duplicates (nonce == last) and regressions (nonce < last) are 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from connectors.sequencing import BookSequencer
from schemas.records.dlq import DeadLetterReason as R
from tests.fault.scripted_feed import BTC
from tests.fault.scripted_feed import dead_letters
from tests.fault.scripted_feed import feed_books
from tests.fault.scripted_feed import published_books
from tests.unit.connectors.scripted import book

pytestmark = pytest.mark.fault

BOOKS = [
    book(BTC, 100),
    book(BTC, 101),
    book(BTC, 101),  # exact repeat: dropped silently, not a fault
    book(BTC, 101, ask=100.7),  # DUPLICATE_SEQUENCE: same nonce, other levels
    book(BTC, 99),  # OUT_OF_ORDER_SEQUENCE
    book(BTC, 102),
]


def stream_oracle(nonces: Sequence[int | None]) -> Counter[str]:
    """Duplicates and regressions of a published nonce sequence."""
    counts: Counter[str] = Counter()
    last: int | None = None
    for nonce in nonces:
        assert nonce is not None
        if last is not None and nonce == last:
            counts["duplicates"] += 1
        elif last is not None and nonce < last:
            counts["regressions"] += 1
        last = nonce if last is None else max(last, nonce)
    return counts


async def test_duplicate_and_out_of_order_nonces_are_refused() -> None:
    sink = await feed_books(BOOKS, items=5)  # 3 published + 2 refused; the repeat is dropped
    nonces = [b.envelope.source_seq for b in published_books(sink)]
    assert nonces == [100, 101, 102]
    assert stream_oracle(nonces) == Counter()
    reasons = [d.reason for d in dead_letters(sink)]
    assert reasons == [R.DUPLICATE_SEQUENCE, R.OUT_OF_ORDER_SEQUENCE]


async def test_twin_without_the_sequence_guard_they_are_published(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def accept(self: BookSequencer, nonce: int | None, digest: int) -> None:
        return None

    monkeypatch.setattr(BookSequencer, "check", accept)
    sink = await feed_books(BOOKS, items=6)
    nonces = [b.envelope.source_seq for b in published_books(sink)]
    assert nonces == [100, 101, 101, 101, 99, 102]
    assert stream_oracle(nonces) == Counter(duplicates=2, regressions=1)
    assert not dead_letters(sink)
