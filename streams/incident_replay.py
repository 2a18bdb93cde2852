"""Replay an incident bundle through the pipeline's pure reducers and compare the outputs.

No Faust worker runs: the bundle's market input is fed straight to
:class:`processors.market_state.MarketReducer` and its opportunities to
:class:`processors.risk_state.RiskReducer`, the reducers the agents and the offline digest
(:mod:`streams.digest`) use.

- **Market** (-> ``arb.opportunity``): the instrument facts in force at the window's start
  first, then every ``md.instrument`` / ``md.book`` / ``md.funding`` message of the window in
  the worker's apply order (the bundle's ``order``, from its sequenced topic); what that does
  not list follows in Kafka timestamp order (ties: that topic order, then partition, offset).
- **Risk** (-> ``risk.decision``): the control commands before the window first, then the
  bundle's own ``arb.opportunity`` messages and the window's ``ops.control`` commands in the
  risk apply order (else timestamp order): the risk agent's input as it was, so a decision
  that differs points at risk, not at an opportunity that differed upstream.

Outputs are matched by ``event_id`` (derived deterministically from what produced them):
*same* (equal records), *differ* (same id, other content), *missing* (in the bundle, not
replayed), *extra* (replayed, not in the bundle).

With ``namespace``, the bundle's ``md.*`` messages are first re-published into fresh topics
``<namespace>.<topic>`` (same partitions, keys and timestamps) and the market input is read back
from there, so the replay runs over what Kafka delivers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from processors.market_state import MarketReducer
from processors.risk_state import RiskReducer
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import InvalidEvent
from schemas.records.arb import Opportunity
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.records.md import InstrumentFacts
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskDecision
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION
from schemas.topics import by_name
from streams.bundle import Bundle
from streams.bundle import BundleError
from streams.digest import canonical

MARKET_TOPICS = (MD_INSTRUMENT, MD_BOOK, MD_FUNDING)
COMPARED = (ARB_OPPORTUNITY, RISK_DECISION)
_RANK = {t: i for i, t in enumerate((*MARKET_TOPICS, OPS_CONTROL, ARB_OPPORTUNITY))}


@dataclass(frozen=True, slots=True)
class Positioned:
    """One input record with the Kafka position that orders it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    record: AvroRecord

    def order(self) -> tuple[int, int, int, int]:
        return (self.timestamp_ms, _RANK[self.topic], self.partition, self.offset)


@dataclass(slots=True)
class TopicDiff:
    topic: str
    same: int = 0
    differ: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not (self.differ or self.missing or self.extra)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "same": self.same,
            "differ": len(self.differ),
            "missing": len(self.missing),
            "extra": len(self.extra),
            "differ_ids": self.differ[:20],
            "missing_ids": self.missing[:20],
            "extra_ids": self.extra[:20],
        }


@dataclass(slots=True)
class ReplayReport:
    diffs: list[TopicDiff]
    inputs: dict[str, int]
    refused: int
    republished: dict[str, str] = field(default_factory=dict)

    @property
    def identical(self) -> bool:
        return all(d.identical for d in self.diffs)

    def as_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "topics": [d.as_json() for d in self.diffs],
            "inputs": self.inputs,
            "refused": self.refused,
            "republished": self.republished,
        }


def bundle_inputs(bundle: Bundle, topics: Iterable[str]) -> list[Positioned]:
    return [
        Positioned(t, m.partition, m.offset, m.timestamp_ms, r)
        for t in topics
        for m, r in bundle.records(t)
    ]


def apply_order(
    items: Sequence[Positioned], order: Sequence[tuple[str, int, int]]
) -> list[Positioned]:
    """``items`` in the worker's ``order`` (the positions its sequenced topic lists), those it
    does not list after them in timestamp order; without an order, timestamp order."""
    index = {position: i for i, position in enumerate(order)}
    unlisted = len(index)

    def key(p: Positioned) -> tuple[int, tuple[int, int, int, int]]:
        return index.get((p.topic, p.partition, p.offset), unlisted), p.order()

    return sorted(items, key=key)


def replay_market(
    facts_in_force: Sequence[Positioned],
    window: Sequence[Positioned],
    settings: MarketSettings,
    order: Sequence[tuple[str, int, int]] = (),
) -> tuple[list[Opportunity], int]:
    reducer = MarketReducer(settings)
    out: list[Opportunity] = []
    refused = 0
    for item in [*facts_in_force, *apply_order(window, order)]:
        record = item.record
        if not isinstance(record, BookSnapshot | FundingRateUpdate | InstrumentFacts):
            continue
        try:
            applied = reducer.apply(record)
        except InvalidEvent:
            refused += 1
            continue
        out.extend(applied.opportunities)
    return out, refused


def replay_risk(
    control_in_force: Sequence[Positioned],
    window: Sequence[Positioned],
    settings: RiskSettings,
    order: Sequence[tuple[str, int, int]] = (),
) -> tuple[list[RiskDecision], int]:
    reducer = RiskReducer(settings)
    out: list[RiskDecision] = []
    refused = 0
    for item in [*control_in_force, *apply_order(window, order)]:
        record = item.record
        if not isinstance(record, Opportunity | ControlCommand):
            continue
        try:
            _, decision = reducer.apply(record)
        except InvalidEvent:
            refused += 1
            continue
        if decision is not None:
            out.append(decision)
    return out, refused


def compare(
    topic: str, recorded: Iterable[AvroRecord], replayed: Iterable[AvroRecord]
) -> TopicDiff:
    diff = TopicDiff(topic)
    want = {_event_id(r): canonical(r) for r in recorded}
    got = {_event_id(r): canonical(r) for r in replayed}
    for event_id, form in want.items():
        if event_id not in got:
            diff.missing.append(event_id)
        elif got[event_id] == form:
            diff.same += 1
        else:
            diff.differ.append(event_id)
    diff.extra.extend(e for e in got if e not in want)
    return diff


def _event_id(record: AvroRecord) -> str:
    envelope = getattr(record, "envelope", None)
    if envelope is None:
        raise BundleError(f"{type(record).__name__} has no envelope")
    return str(envelope.event_id)


def replay_bundle(
    bundle: Bundle,
    market: MarketSettings,
    risk: RiskSettings,
    republished_market: Sequence[Positioned] | None = None,
) -> ReplayReport:
    """Replay ``bundle`` (or, when given, the market input read back from Kafka) and compare."""
    start = bundle.window.start_ms
    market_input = (
        list(republished_market)
        if republished_market is not None
        else bundle_inputs(bundle, [t for t in MARKET_TOPICS if t in bundle.topics])
    )
    facts_before = [p for p in market_input if p.topic == MD_INSTRUMENT and p.timestamp_ms < start]
    market_window = [p for p in market_input if p.timestamp_ms >= start]
    opportunities, refused_market = replay_market(
        facts_before, market_window, market, bundle.order.get("market", ())
    )

    control = bundle_inputs(bundle, [OPS_CONTROL] if OPS_CONTROL in bundle.topics else [])
    recorded_opps = bundle_inputs(
        bundle, [ARB_OPPORTUNITY] if ARB_OPPORTUNITY in bundle.topics else []
    )
    control_before = [p for p in control if p.timestamp_ms < start]
    risk_window = [p for p in control if p.timestamp_ms >= start] + recorded_opps
    decisions, refused_risk = replay_risk(
        control_before, risk_window, risk, bundle.order.get("risk", ())
    )

    diffs = []
    if ARB_OPPORTUNITY in bundle.topics:
        diffs.append(compare(ARB_OPPORTUNITY, [p.record for p in recorded_opps], opportunities))
    if RISK_DECISION in bundle.topics:
        recorded = [r for _, r in bundle.records(RISK_DECISION)]
        diffs.append(compare(RISK_DECISION, recorded, decisions))
    if not diffs:
        raise BundleError("the bundle holds neither arb.opportunity nor risk.decision")
    inputs = {
        "market": len(market_input),
        "control": len(control),
        "opportunities": len(recorded_opps),
    }
    return ReplayReport(diffs, inputs, refused_market + refused_risk)


# ---- re-publishing into a namespace -----------------------------------------------------------


def republish(
    bundle: Bundle, bootstrap: str, codec: Codec, namespace: str, timeout_s: float = 60.0
) -> tuple[dict[str, str], list[Positioned]]:
    """Produce the bundle's ``md.*`` messages into fresh ``<namespace>.<topic>`` topics (refused
    when one exists) and read them back; returns (topic -> namespaced name, market input)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient
    from confluent_kafka.admin import NewTopic

    from streams.internal_topics import create_missing

    md = [t for t in bundle.topics if t.startswith("md.")]
    names = {t: f"{namespace}.{t}" for t in md}
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    present = admin.list_topics(timeout=15).topics
    taken = [n for n in names.values() if n in present]
    if taken:
        raise BundleError(f"namespace {namespace!r} is not fresh: {', '.join(taken)} exist")
    create_missing(admin, [NewTopic(names[t], by_name(t).partitions, 1) for t in md], timeout_s)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    counts: dict[str, int] = {}
    for topic in md:
        for message, record in bundle.records(topic):
            _produce(producer, names[topic], message, codec.encode(record, topic), delivered)
            counts[topic] = counts.get(topic, 0) + 1
        producer.poll(0)
    if producer.flush(timeout_s) or failures:
        raise BundleError(f"re-publishing into {namespace!r} failed: {failures[:3]}")

    return names, _read_back(bootstrap, codec, names, bundle, timeout_s)


def _read_back(
    bootstrap: str, codec: Codec, names: dict[str, str], bundle: Bundle, timeout_s: float
) -> list[Positioned]:
    """The market input as Kafka delivers it from the namespaced topics, each message named by
    its position in the bundle (the k-th message of a fresh partition is the k-th one the
    bundle holds of it), so the bundle's apply order still applies."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"fundingflow-incident-replay-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    read: list[Positioned] = []
    try:
        for topic, name in names.items():
            if topic not in MARKET_TOPICS:
                continue
            for p in range(by_name(topic).partitions):
                originals = [m.offset for m in bundle.messages.get(topic, ()) if m.partition == p]
                for item in _read_partition(
                    consumer, codec, topic, TopicPartition(name, p, 0), timeout_s
                ):
                    if item.offset >= len(originals):
                        raise BundleError(f"{name}[{p}] holds more than was re-published")
                    read.append(replace(item, offset=originals[item.offset]))
    finally:
        consumer.close()
    return read


def _read_partition(
    consumer: Any, codec: Codec, topic: str, tp: Any, timeout_s: float
) -> list[Positioned]:
    _, high = consumer.get_watermark_offsets(tp, timeout=15)
    if high <= 0:
        return []
    consumer.assign([tp])
    deadline = time.monotonic() + timeout_s
    got = 0
    out: list[Positioned] = []
    while got < high:
        if time.monotonic() > deadline:
            raise BundleError(f"{tp.topic}[{tp.partition}]: read {got} of {high}")
        for m in consumer.consume(1000, 0.2):
            offset = m.offset()
            if m.error() is not None or offset is None:
                continue
            got = offset + 1
            record = codec.decode_for_topic(m.value() or b"", topic)
            out.append(Positioned(topic, tp.partition, offset, m.timestamp()[1], record))
    return out


def _produce(producer: Any, name: str, message: Any, value: bytes, callback: Any) -> None:
    while True:
        try:
            producer.produce(
                name,
                value,
                message.key,
                partition=message.partition,
                timestamp=message.timestamp_ms,
                on_delivery=callback,
            )
            return
        except BufferError:
            producer.poll(0.1)
