"""The cut guard admits each sequenced batch against its partition's stored cut."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from hypothesis import given
from hypothesis import strategies as st

from streams.cut_guard import Admission
from streams.cut_guard import CutGuard

MD = "app-md-sequenced-v2"


@dataclass
class Cuts:
    """The tables' cuts, and a clock the test moves."""

    cuts: dict[tuple[str, int], int] = field(default_factory=dict)
    now: float = 100.0

    def cut_of(self, topic: str, partition: int) -> int | None:
        return self.cuts.get((topic, partition))

    def guard(self, stall_after_s: float | None = 5.0) -> CutGuard:
        return CutGuard(self.cut_of, stall_after_s, clock=lambda: self.now)

    def apply(self, guard: CutGuard, partition: int, offset: int) -> None:
        self.cuts[(MD, partition)] = offset + 1
        guard.applied(MD, partition)


def test_below_the_cut_is_a_duplicate_at_it_applies_above_it_is_a_gap() -> None:
    c = Cuts({(MD, 0): 5})
    guard = c.guard()
    assert guard.admit(MD, 0, 4) is Admission.DUPLICATE
    assert guard.admit(MD, 0, 5) is Admission.APPLY
    assert guard.admit(MD, 0, 6) is Admission.GAP
    assert guard.admit(MD, 1, 17) is Admission.APPLY  # never applied: any offset starts it


def test_a_gap_rewinds_once_per_lost_range_and_the_stale_messages_after_it_do_not() -> None:
    c = Cuts({(MD, 0): 5})
    guard = c.guard()
    assert guard.rewind_to(MD, 0) == 5
    assert guard.admit(MD, 0, 7) is Admission.GAP
    assert guard.rewind_to(MD, 0) is None  # already rewinding to 5
    c.apply(guard, 0, 5)
    c.apply(guard, 0, 6)
    assert guard.admit(MD, 0, 9) is Admission.GAP
    assert guard.rewind_to(MD, 0) == 7  # a new lost range


def test_a_partition_past_its_cut_with_nothing_applied_for_the_stall_time_is_rewound() -> None:
    c = Cuts({(MD, 0): 5, (MD, 1): 3})
    guard = c.guard(stall_after_s=5.0)
    ahead = [(MD, 0, 6), (MD, 1, 3)]
    c.now += 4.9  # since the guard started (the worker's start, or a rebalance)
    assert guard.stalled(ahead) == []
    c.now += 0.2
    assert guard.stalled(ahead) == [(MD, 0, 5)]  # partition 1 is at its cut
    c.now += 1.0
    assert guard.stalled(ahead) == []  # sought a second ago: give it time
    c.now += 5.0
    assert guard.stalled(ahead) == [(MD, 0, 5)]


def test_progress_on_the_topic_means_no_stall() -> None:
    c = Cuts({(MD, 0): 5, (MD, 1): 3})
    guard = c.guard(stall_after_s=5.0)
    c.now += 4.0
    c.apply(guard, 1, 3)  # the agent is busy with another partition
    c.now += 4.0
    assert guard.stalled([(MD, 0, 9)]) == []


def test_lost_batches_that_never_come_back_are_given_up_after_max_rewinds() -> None:
    """Retention deleted them: after ``max_rewinds`` seeks the next batch is applied."""
    c = Cuts({(MD, 0): 5})
    guard = c.guard(stall_after_s=5.0)
    assert guard.rewind_to(MD, 0) == 5
    for _ in range(guard.max_rewinds - 1):
        assert guard.admit(MD, 0, 20) is Admission.GAP
        c.now += 6.0
        assert guard.stalled([(MD, 0, 21)]) == [(MD, 0, 5)]
    assert guard.admit(MD, 0, 20) is Admission.GONE


def test_a_rebalance_forgets_pending_rewinds_and_restarts_the_stall_clock() -> None:
    c = Cuts({(MD, 0): 5})
    guard = c.guard()
    assert guard.rewind_to(MD, 0) == 5
    c.now += 10.0
    guard.forget()
    assert guard.stalled([(MD, 0, 9)]) == []
    assert guard.rewind_to(MD, 0) == 5


def test_off_every_delivered_batch_is_applied() -> None:
    c = Cuts({(MD, 0): 5})
    guard = c.guard(stall_after_s=None)
    assert not guard.enabled
    assert [guard.admit(MD, 0, o) for o in (3, 5, 9)] == [Admission.APPLY] * 3
    c.now += 1000
    assert guard.stalled([(MD, 0, 9)]) == []


@given(
    deliveries=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=200),
)
def test_whatever_the_delivery_order_each_batch_is_applied_once_and_in_order(
    deliveries: list[int],
) -> None:
    """A consumer that redelivers, skips and reorders offsets; every rewind re-delivers from the
    cut. The applied offsets are always 0, 1, 2, ... once each."""
    c = Cuts()
    guard = c.guard()
    applied: list[int] = []
    queue = list(deliveries)
    c.apply(guard, 0, -1)  # cut 0: offset 0 comes first
    while queue:
        offset = queue.pop(0)
        admission = guard.admit(MD, 0, offset)
        if admission is Admission.APPLY:
            applied.append(offset)
            c.apply(guard, 0, offset)
        elif admission is Admission.GAP:
            target = guard.rewind_to(MD, 0)
            if target is not None:
                queue[:0] = [target]  # the seek re-delivers from the cut first
    assert applied == list(range(len(applied)))
