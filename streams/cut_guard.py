"""Every sequenced batch applied once and in offset order, whatever the consumer delivers.

The agents' state and the offsets it includes travel together: each batch writes its
partition's cut (the next sequenced offset) into the same table as the state it changed, so the
recovered tables say exactly which batches they hold. Faust's committed offsets are not that
record. They can run ahead of the recovered tables (a stop committed offsets whose changelog
writes never landed) or behind them (a crash between the table write and the commit), and
Faust's fetch loop silently drops a fetched record below the committed offset. Either way a
batch could be skipped for good, or applied twice.

So an agent admits each batch against its partition's cut (:meth:`CutGuard.admit`):

* below the cut: already in the state (a redelivery), skipped;
* at the cut, or no cut yet (a partition never applied): applied;
* above the cut: batches were lost between the log and the agent. They are read again from the
  log and applied first (:func:`streams.agents.boundary.admitted`); if the log does not answer,
  the partition is rewound to the cut instead (one seek per lost range,
  :meth:`CutGuard.rewind_to`) and the message skipped: it is delivered again after them. (A
  rewind alone races Faust's fetch loop: records fetched before the seek move its read offset
  past the re-fetched ones, which it then drops.)

A lost tail shows no gap, since no later batch arrives: the consumer's position is past the cut
and the agent waits. :meth:`CutGuard.stalled` finds those partitions (log or position past the
cut, nothing applied on the topic for ``stall_after_s``) and they are rewound (nothing is in
flight then). A rewind that cannot bring the lost batches back (deleted by retention) is given
up after ``max_rewinds`` seeks to the same cut: the next batch is applied (``GONE``, logged as an
error).

With ``stall_after_s=None`` the guard is off and every delivered batch is applied (the fault
tests' twin).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from enum import Enum

PartitionKey = tuple[str, int]


class Admission(Enum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    GAP = "gap"
    GONE = "gone"
    """Above the cut after ``max_rewinds`` rewinds to it: the batches in between are gone."""


@dataclass
class CutGuard:
    """Admission of sequenced batches against the cut their partition's state includes."""

    cut_of: Callable[[str, int], int | None]
    """Next offset of ``(topic, partition)`` the state includes (None: nothing applied yet)."""
    stall_after_s: float | None = 5.0
    max_rewinds: int = 3
    clock: Callable[[], float] = time.monotonic
    _rewound: dict[PartitionKey, tuple[int, float, int]] = field(default_factory=dict)
    """Pending rewinds: partition -> (target offset, when last sought, seeks so far)."""
    _progress: dict[str, float] = field(default_factory=dict)
    """Last time a batch of each topic was applied."""
    _since: float = field(init=False)
    """When the guard started or last forgot (a rebalance): the progress of a quiet topic."""

    def __post_init__(self) -> None:
        self._since = self.clock()

    @property
    def enabled(self) -> bool:
        return self.stall_after_s is not None

    def admit(self, topic: str, partition: int, offset: int) -> Admission:
        if self.stall_after_s is None:
            return Admission.APPLY
        cut = self.cut_of(topic, partition)
        if cut is None or offset == cut:
            return Admission.APPLY
        if offset < cut:
            return Admission.DUPLICATE
        pending = self._rewound.get((topic, partition))
        if pending is not None and pending[0] == cut and pending[2] >= self.max_rewinds:
            return Admission.GONE
        return Admission.GAP

    def applied(self, topic: str, partition: int) -> None:
        """A batch of ``topic[partition]`` was applied (its cut moved)."""
        self._rewound.pop((topic, partition), None)
        self._progress[topic] = self.clock()

    def rewind_to(self, topic: str, partition: int) -> int | None:
        """The offset to seek ``topic[partition]`` to after a gap, once per lost range (None
        while a rewind to the same cut is pending: the message is a stale one fetched before
        it)."""
        cut = self.cut_of(topic, partition)
        if cut is None:
            return None
        pending = self._rewound.get((topic, partition))
        if pending is not None and pending[0] == cut:
            return None
        self._rewound[(topic, partition)] = (cut, self.clock(), 1)
        return cut

    def stalled(self, ahead: Iterable[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
        """``(topic, partition, cut)`` to rewind, of ``(topic, partition, offset)`` where
        ``offset`` is how far the log or the consumer's position reaches: partitions reaching
        past their cut while nothing of their topic was applied for ``stall_after_s`` and no
        rewind of them was sought in that time."""
        if self.stall_after_s is None:
            return []
        now = self.clock()
        out = []
        for topic, partition, offset in ahead:
            since = self._progress.get(topic, self._since)
            cut = self.cut_of(topic, partition)
            if cut is None or offset <= cut or now - since < self.stall_after_s:
                continue
            pending = self._rewound.get((topic, partition))
            if pending is not None and now - pending[1] < self.stall_after_s:
                continue
            seeks = pending[2] + 1 if pending is not None and pending[0] == cut else 1
            self._rewound[(topic, partition)] = (cut, now, seeks)
            out.append((topic, partition, cut))
        return out

    def forget(self) -> None:
        """A rebalance: pending rewinds are void (the assignment sought its own positions)."""
        self._rewound.clear()
        self._progress.clear()
        self._since = self.clock()
