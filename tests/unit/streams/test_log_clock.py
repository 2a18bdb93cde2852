"""The next sim session starts after the recorded log, never before it (pure part)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.log_clock import MINUTE_MS
from streams.log_clock import resume_epoch

NOW = 1_796_346_681_101


def test_an_empty_log_starts_at_the_current_minute() -> None:
    assert resume_epoch(None, NOW, 120_000) == NOW // MINUTE_MS * MINUTE_MS


def test_a_log_ahead_of_the_wall_clock_starts_the_next_session_past_it_and_a_gap() -> None:
    last = NOW + 25 * MINUTE_MS + 1_234  # a 15x session ran ahead of the wall clock
    epoch = resume_epoch(last, NOW, 120_000)
    assert epoch == (NOW // MINUTE_MS + 28) * MINUTE_MS
    assert epoch >= last + 120_000


def test_a_log_far_behind_the_wall_clock_does_not_hold_the_clock_back() -> None:
    assert resume_epoch(NOW - 3_600_000, NOW, 120_000) == NOW // MINUTE_MS * MINUTE_MS


@given(
    last=st.none() | st.integers(0, 4_000_000_000_000),
    now=st.integers(0, 4_000_000_000_000),
    gap=st.integers(0, 3_600_000),
)
def test_resume_epoch_is_a_whole_minute_after_the_log_and_not_before_now(
    last: int | None, now: int, gap: int
) -> None:
    epoch = resume_epoch(last, now, gap)
    assert epoch % MINUTE_MS == 0
    assert epoch >= now // MINUTE_MS * MINUTE_MS
    if last is not None:
        assert last + gap <= epoch < max(last + gap + MINUTE_MS, now + 1)
