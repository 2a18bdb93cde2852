from __future__ import annotations

from connectors.sequencing import BookSequencer
from schemas.records.dlq import DeadLetterReason as R


def test_contiguous_stream() -> None:
    seq = BookSequencer(contiguous=True)
    assert seq.check(10, 1) is None
    assert seq.check(11, 2) is None
    assert seq.check(11, 2) == "unchanged"
    assert seq.check(11, 3) is R.DUPLICATE_SEQUENCE
    assert seq.check(9, 4) is R.OUT_OF_ORDER_SEQUENCE
    assert seq.check(13, 5) is R.SEQUENCE_GAP
    seq.reset(20, 6)
    assert seq.check(21, 7) is None


def test_polled_snapshots_may_skip() -> None:
    seq = BookSequencer(contiguous=False)
    assert seq.check(10, 1) is None
    assert seq.check(50, 2) is None
    assert seq.check(49, 3) is R.OUT_OF_ORDER_SEQUENCE


def test_stream_updates_older_than_the_resync_snapshot_are_dropped_silently() -> None:
    seq = BookSequencer(contiguous=True)
    seq.check(10, 1)
    assert seq.check(15, 2) is R.SEQUENCE_GAP
    seq.reset(30, 3)  # the REST snapshot is ahead of the lagging stream
    assert seq.check(16, 4) == "unchanged"
    assert seq.check(30, 5) == "unchanged"
    assert seq.check(31, 6) is None
