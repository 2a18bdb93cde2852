"""The ordered sequencing of a replay: the same input gives the same sequence whatever order
fetches delivered it in; arrival-order packing (the live sequencer's) does not."""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks import synthetic as syn
from schemas.codec import Codec
from schemas.registry import InMemoryRegistry
from schemas.topics import ACCOUNT_POSITION
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import EXEC_FILL
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import OPS_CONTROL
from schemas.topics import by_name
from streams.config import StreamsSettings
from streams.sequencer import OrderedMerge
from streams.sequencer import merge_key_of
from streams.sequencer import pack
from streams.sequencer import router
from streams.sequencer import source_partitions

SETTINGS = StreamsSettings(app_id="unit")
CODEC = Codec(InMemoryRegistry())


@dataclass
class _Message:
    _topic: str
    _partition: int
    _offset: int
    _time: int

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, self._time)

    def key(self) -> bytes:
        return b"AAA"

    def value(self) -> bytes:
        return f"{self._topic}:{self._partition}:{self._offset}".encode()


def _log(seed: int = 1) -> dict[tuple[str, int], list[_Message]]:
    """Books and funding on partitions 0 and 2, times rising with ties across topics."""
    rng = random.Random(seed)
    logs: dict[tuple[str, int], list[_Message]] = {}
    for topic in (MD_BOOK, MD_FUNDING):
        for p in (0, 2):
            t = 1000
            msgs = []
            for offset in range(40):
                t += rng.choice((0, 1, 3))
                msgs.append(_Message(topic, p, offset, t))
            logs[(topic, p)] = msgs
    return logs


def _arrivals(logs: dict[tuple[str, int], list[_Message]], seed: int) -> list[list[_Message]]:
    """The messages in chunks as fetches might return them: each partition in order, the
    partitions interleaved at random, in random chunk sizes."""
    rng = random.Random(seed)
    cursors = {tp: 0 for tp in logs}
    stream: list[_Message] = []
    while any(cursors[tp] < len(logs[tp]) for tp in logs):
        tp = rng.choice([tp for tp in logs if cursors[tp] < len(logs[tp])])
        take = rng.randint(1, 7)
        stream.extend(logs[tp][cursors[tp] : cursors[tp] + take])
        cursors[tp] += take
    chunks, i = [], 0
    while i < len(stream):
        n = rng.randint(1, 25)
        chunks.append(stream[i : i + n])
        i += n
    return chunks


def _ends(logs: dict[tuple[str, int], list[_Message]]) -> dict[str, dict[int, int]]:
    ends: dict[str, dict[int, int]] = {t: dict.fromkeys(range(6), 0) for t in (MD_BOOK, MD_FUNDING)}
    ends[MD_INSTRUMENT] = dict.fromkeys(range(6), 0)
    for (topic, p), msgs in logs.items():
        ends[topic][p] = len(msgs)
    return ends


def _ordered(
    chunks: list[list[_Message]], ends: dict[str, dict[int, int]]
) -> dict[int, list[bytes]]:
    """Per sequenced partition, the values in the order the merge released them."""
    merge = OrderedMerge(
        router(SETTINGS, CODEC),
        source_partitions(SETTINGS),
        merge_key_of(SETTINGS, CODEC),
    )
    out: list[_Message] = []
    for i, chunk in enumerate(chunks):
        merge.add(chunk)
        if i == len(chunks) // 2:
            merge.set_ends(ends)  # the ends arrive mid-way, as a replay writes them
        out.extend(merge.ready())
    assert merge.pending == 0
    routing = router(SETTINGS, CODEC)
    per_target: dict[int, list[bytes]] = {}
    for m in out:
        per_target.setdefault(routing.slot(m)[1], []).append(m.value())
    return per_target


def _arrival_order(chunks: list[list[_Message]]) -> dict[int, list[bytes]]:
    per_target: dict[int, list[bytes]] = {}
    for chunk in chunks:
        for _target, partition, batch in pack(chunk, router(SETTINGS, CODEC), 1000):
            per_target.setdefault(partition, []).extend(batch.values)
    return per_target


def test_two_arrival_orders_of_one_input_are_sequenced_identically() -> None:
    logs = _log()
    ends = _ends(logs)
    first, second = _ordered(_arrivals(logs, 1), ends), _ordered(_arrivals(logs, 2), ends)
    assert first == second
    assert sum(len(v) for v in first.values()) == sum(len(m) for m in logs.values())


def test_twin_arrival_order_packing_depends_on_how_fetches_interleaved() -> None:
    """The guard's twin: without the ordered merge the same input is sequenced differently."""
    logs = _log()
    assert _arrival_order(_arrivals(logs, 1)) != _arrival_order(_arrivals(logs, 2))


@dataclass
class _Fact(_Message):
    """An instrument fact of ``asset`` (its value decodes), read from any partition."""

    asset: str = "FFF"

    def value(self) -> bytes:
        record = syn.facts("ex-a", f"{self.asset}/USDT:USDT", self._time)
        return CODEC.encode(record, MD_INSTRUMENT)


def test_facts_read_from_other_partitions_merge_into_their_assets_partition_identically() -> None:
    """FFF's home is partition 0 and AAA's 1 (books of partitions 0 and 2 here); their facts
    were read from md.instrument partitions 5 and 1, at times among the books'."""
    logs = _log()
    logs[(MD_INSTRUMENT, 5)] = [_Fact(MD_INSTRUMENT, 5, i, 1000 + 10 * i) for i in range(3)]
    logs[(MD_INSTRUMENT, 1)] = [
        _Fact(MD_INSTRUMENT, 1, i, 1005 + 10 * i, asset=a) for i, a in enumerate(("FFF", "AAA"))
    ]
    ends = _ends(logs)
    ends[MD_INSTRUMENT].update({5: 3, 1: 2})
    first, second = _ordered(_arrivals(logs, 1), ends), _ordered(_arrivals(logs, 2), ends)
    assert first == second
    facts = {v for msgs in logs.values() for m in msgs if isinstance(m, _Fact) for v in [m.value()]}
    placed = {p: [v for v in values if v in facts] for p, values in first.items()}
    assert len(placed[0]) == 4  # FFF's four facts, in the partition of FFF's books
    assert len(placed[1]) == 1  # AAA's, alone in its partition
    assert not placed[2]


def test_the_merge_keeps_each_partition_in_order_and_orders_by_time() -> None:
    logs = _log()
    out = _ordered(_arrivals(logs, 3), _ends(logs))
    by_value = {m.value(): m for msgs in logs.values() for m in msgs}
    for target in (0, 2):
        seq = [by_value[v] for v in out[target]]
        times = [m.timestamp()[1] for m in seq]
        assert times == sorted(times)
        for topic in (MD_BOOK, MD_FUNDING):
            offsets = [m.offset() for m in seq if m.topic() == topic]
            assert offsets == sorted(offsets)


def test_a_source_without_a_known_end_holds_its_target_back() -> None:
    merge = OrderedMerge(
        router(SETTINGS, CODEC),
        source_partitions(SETTINGS),
        merge_key_of(SETTINGS, CODEC),
    )
    merge.add([_Message(MD_BOOK, 1, 0, 5), _Message(MD_BOOK, 1, 1, 6)])
    # md.funding[1] and any md.instrument partition (facts go to their asset's partition) may
    # still bring earlier ones
    assert merge.ready() == []
    merge.set_ends({MD_FUNDING: {1: 0}, MD_INSTRUMENT: {p: 0 for p in range(5)}})
    assert merge.ready() == []
    merge.set_ends({MD_INSTRUMENT: {5: 0}})
    # Only md.book[1] may still bring more, and those come after its own buffered ones.
    assert [m.offset() for m in merge.ready()] == [0, 1]
    # The risk partition waits for every arb.opportunity and exec.fill partition and ops.control.
    merge.set_ends({OPS_CONTROL: {0: 0}, ARB_OPPORTUNITY: dict.fromkeys(range(5), 0)})
    merge.add([_Message(OPS_CONTROL, 0, 0, 1)])
    assert merge.ready() == []
    merge.set_ends({ARB_OPPORTUNITY: {5: 0}, OPS_CONTROL: {0: 1}})
    assert merge.ready() == []  # the executor's fills may still bring earlier ones
    fills = by_name(EXEC_FILL).partitions
    merge.set_ends({EXEC_FILL: dict.fromkeys(range(fills), 0)})
    assert merge.ready() == []  # and so may its position statements
    statements = by_name(ACCOUNT_POSITION).partitions
    merge.set_ends({ACCOUNT_POSITION: dict.fromkeys(range(statements), 0)})
    assert [m.topic() for m in merge.ready()] == [OPS_CONTROL]


def test_paced_republishing_merges_partitions_by_event_time_keeping_each_ones_order() -> None:
    from streams.replay import paced

    # Values that are not records: their broker timestamps stand for the event times.
    messages = [
        _Message(MD_BOOK, 0, 0, 10),
        _Message(MD_BOOK, 0, 1, 5),  # out of order inside its partition: stays after offset 0
        _Message(MD_BOOK, 1, 0, 7),
        _Message(MD_FUNDING, 0, 0, 1),
    ]
    out = list(paced(iter(messages), 1e9, Codec(InMemoryRegistry())))
    assert [(m.topic(), m.partition(), m.offset()) for m in out] == [
        (MD_FUNDING, 0, 0),
        (MD_BOOK, 1, 0),
        (MD_BOOK, 0, 0),
        (MD_BOOK, 0, 1),
    ]


def _restarted(resume: bool) -> list[int]:
    """A restarted sequencer: md.funding[1] was sequenced up to its end (offset 4) before the
    restart, so this sequencer reads nothing more of it; md.book[1] still has two messages."""
    merge = OrderedMerge(
        router(SETTINGS, CODEC),
        source_partitions(SETTINGS),
        merge_key_of(SETTINGS, CODEC),
    )
    merge.set_ends({MD_FUNDING: {1: 4}, MD_INSTRUMENT: {p: 0 for p in range(6)}})
    if resume:
        merge.resume_at({(MD_FUNDING, 1): 4, (MD_BOOK, 1): 7})
    merge.add([_Message(MD_BOOK, 1, 7, 5), _Message(MD_BOOK, 1, 8, 6)])
    return [m.offset() for m in merge.ready()]


def test_a_restarted_sequencer_counts_a_partition_committed_to_its_end_as_complete() -> None:
    assert _restarted(resume=True) == [7, 8]


def test_twin_without_the_committed_offsets_the_restarted_merge_waits_forever() -> None:
    assert _restarted(resume=False) == []
