"""The execution consumer: ``risk.decision``, ``arb.opportunity`` and ``ops.control`` to orders.

One confluent-kafka consumer (group ``fundingflow-executor``, auto commit off) reads the three
topics. Per polled batch: approved decisions open pairs, closed opportunities mark their pairs
to close, control commands engage or release the kill switch; then the engine drives every
active pair; then the batch's offsets are committed (its state is durable in PostgreSQL by
then); then the outbox publishes what changed: it hands the changes to the producer and waits
for the broker's acknowledgement in a worker thread, off the event loop, marking them published
on a later step once the flush returned (one staged batch at a time). On start, and every
``reconcile_every_s``, the engine reconciles with the venues (a mismatch halts trading) and the
venues' new funding settlements are read, stored, booked and checked
(``executors.funding_sync``). A message that cannot be decoded is dead-lettered to ``dlq.exec``
with its reason, and the batch goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import structlog
from confluent_kafka import Consumer
from confluent_kafka import KafkaError
from confluent_kafka import Message

from executors.engine import Executor
from executors.funding_sync import FundingSync
from executors.funding_sync import FundingSyncResult
from executors.outbox import Staged
from processors.dead_letters import dead_letter
from processors.dead_letters import source_of
from processors.funding_settlements import FundingTolerance
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.ops import ControlAction
from schemas.records.ops import ControlCommand
from schemas.records.risk import RiskDecision
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import DLQ_EXEC
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION

log = structlog.get_logger("fundingflow.executor")

GROUP = "fundingflow-executor"
TOPICS = (RISK_DECISION, ARB_OPPORTUNITY, OPS_CONTROL)


@dataclass(slots=True)
class ServiceStats:
    decisions: int = 0
    opened: int = 0
    closes: int = 0
    controls: int = 0
    dead_letters: int = 0
    changes: int = 0
    published: int = 0
    batches: int = 0
    reconciliations: int = 0
    halted_by_reconciliation: bool = False
    funding_settlements: int = 0
    funding_mismatches: int = 0
    errors: list[str] = field(default_factory=list)


def consumer_config(bootstrap: str, group: str = GROUP) -> dict[str, Any]:
    """One executor per group: static membership (``group.instance.id``) lets a restarted
    executor take its partitions back at once instead of waiting out the dead member's
    session, and fences a second executor started with the same group."""
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.instance.id": f"{group}-1",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "session.timeout.ms": 10_000,
        "max.poll.interval.ms": 300_000,
    }


class ExecutionService:
    def __init__(
        self,
        executor: Executor,
        consumer: Consumer,
        codec: Codec,
        *,
        topic_prefix: str = "",
        batch_size: int = 500,
        poll_s: float = 0.2,
        reconcile_every_s: float = 30.0,
        publish_batch: int = 100,
        clock: Callable[[], float] = time.monotonic,
        funding_tolerance: FundingTolerance | None = None,
    ) -> None:
        self.executor = executor
        self.funding = FundingSync(
            executor.conn,
            executor.venues,
            executor.portfolio,
            executor.publisher,
            executor._incident,
            session=executor.session,
            tolerance=funding_tolerance,
            clock=executor.clock,
        )
        self.consumer = consumer
        self.codec = codec
        self.topic_prefix = topic_prefix
        self.topics = tuple(topic_prefix + t for t in TOPICS)
        self.batch_size = batch_size
        self.poll_s = poll_s
        self.reconcile_every_s = reconcile_every_s
        self.clock = clock
        self.stats = ServiceStats()
        self._last_reconcile = float("-inf")
        self.publish_batch = publish_batch
        """Changes of each kind staged per step at most: staging (building and encoding the
        records) runs on the loop, so a bounded batch bounds the pause it makes."""
        self._flushing: asyncio.Future[None] | None = None
        self._staged: Staged | None = None

    async def start(self) -> None:
        """Publish what a crash left unpublished, settle and reconcile, state the session's
        positions to risk, then subscribe."""
        self.executor.portfolio.load()
        self.stats.published += self.executor.publish()
        await self.executor.prepare()
        await self._reconcile()
        self.stats.published += await self.executor.state_positions()
        self.stats.changes += await self.executor.drive()
        self.stats.published += self.executor.publish()
        self.consumer.subscribe(list(self.topics))

    async def _reconcile(self) -> None:
        result = await self.executor.reconcile()
        self.stats.reconciliations += 1
        self.stats.halted_by_reconciliation |= not result.clean
        self._last_reconcile = self.clock()
        funding = await self._sync_funding()
        self.stats.published += self.executor.publish_pnl()
        log.info(
            "reconciled",
            settled=result.settled,
            mismatches=len(result.mismatches),
            external_orders=len(result.external_orders),
            funding_settlements=funding.stored,
        )

    async def _sync_funding(self) -> FundingSyncResult:
        """The venues' new funding settlements: stored, booked, published, checked."""
        funding = await self.funding.sync()
        self.stats.funding_settlements += funding.stored
        self.stats.funding_mismatches += len(funding.mismatches)
        self.stats.published += funding.published
        return funding

    async def step(self) -> int:
        """One batch: poll, apply, drive, commit, publish; messages consumed plus changes."""
        messages = await asyncio.to_thread(self._poll)
        good = [m for m in messages if not self._broker_error(m)]
        decisions: list[RiskDecision] = []
        for message in good:
            record = self._decode(message)
            if isinstance(record, RiskDecision):
                decisions.append(record)
            elif record is not None:
                await self._open(decisions)  # what came before a close or a command, first
                decisions = []
                self._handle(record)
        await self._open(decisions)
        changes = await self.executor.drive()
        self.stats.changes += changes
        if good:
            self.executor.crash.reached("before_offset_commit")
            # the state is durable: a commit lost on the way only redelivers (idempotent)
            self.consumer.commit(asynchronous=True)
            self.stats.batches += 1
        # after the batch's orders, never between a decision and its orders: stage a bounded
        # batch; the broker's acks are awaited off the loop
        await self._publish_step()
        if self.clock() - self._last_reconcile >= self.reconcile_every_s:
            await self._settle_publish()
            await self._reconcile()
        return len(good) + changes

    async def _publish_step(self) -> None:
        """Mark the staged batch published if its flush returned, then stage the next one and
        flush it in a worker thread; never waits for the broker (a failed flush raises)."""
        if self._flushing is not None:
            if not self._flushing.done():
                return
            await self._settle_publish()
        staged = self.executor.stage_publish(self.publish_batch)
        if staged is not None:
            self._staged = staged
            self._flushing = asyncio.ensure_future(asyncio.to_thread(self.executor.publisher.flush))

    async def _settle_publish(self) -> None:
        """Wait for the staged batch's flush and mark it published."""
        if self._flushing is None or self._staged is None:
            return
        flushing, staged = self._flushing, self._staged
        self._flushing = self._staged = None
        await flushing  # PublishError when the broker refused: nothing is marked
        self.stats.published += self.executor.mark_published(staged)

    def _poll(self) -> list[Message]:
        """What has arrived: wait up to ``poll_s`` for the first message only, then take what
        is already fetched (a batch never waits to fill up)."""
        first = self.consumer.poll(self.poll_s)
        if first is None:
            return []
        return [first, *self.consumer.consume(self.batch_size - 1, 0)]

    def _broker_error(self, message: Message) -> bool:
        err = message.error()
        if err is None:
            return False
        if err.code() != KafkaError._PARTITION_EOF:
            log.warning("consume_error", error=str(err))
        return True

    def _decode(self, message: Message) -> AvroRecord | None:
        topic = message.topic() or ""
        raw = message.value() or b""
        try:
            return self.codec.decode_for_topic(raw, topic.removeprefix(self.topic_prefix))
        except DecodeError as exc:
            self._dead_letter(message, raw, exc)
            return None

    async def _open(self, decisions: list[RiskDecision]) -> None:
        if decisions:
            self.stats.decisions += len(decisions)
            self.stats.opened += len(await self.executor.open_many(decisions))

    def _handle(self, record: AvroRecord) -> None:
        if isinstance(record, Opportunity):
            if record.lifecycle is Lifecycle.CLOSED:
                reason = record.close_reason.value if record.close_reason else "closed"
                self.stats.closes += len(self.executor.request_close(record.opportunity_id, reason))
        elif isinstance(record, ControlCommand):
            self.stats.controls += 1
            self._control(record)

    def _control(self, command: ControlCommand) -> None:
        """Engage or release the kill switch; a release also clears this session's halt from
        reconciliation (resuming is always an explicit command)."""
        if command.scope not in (None, "global"):
            return
        event_id = command.envelope.event_id
        if command.action is ControlAction.KILL_SWITCH_ENGAGE:
            self.executor.set_halt(True, command.reason, event_id)
        elif command.action is ControlAction.KILL_SWITCH_RELEASE:
            self.executor.set_halt(False, command.reason, event_id)
            self.executor.set_halt(False, command.reason, event_id, self.executor.session_scope)

    def _dead_letter(self, message: Message, raw: bytes, error: BaseException) -> None:
        topic, partition, offset = message.topic() or "", message.partition(), message.offset()
        raw_headers = message.headers() or []
        pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
        headers = [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs]
        source = source_of(topic, partition or 0, offset or 0, message.key(), headers)
        _, stamp = message.timestamp()
        record = dead_letter(source, raw, error, "executor", int(stamp))
        self.executor.publisher.publish(DLQ_EXEC, record)
        self.stats.dead_letters += 1
        log.warning("dead_letter", topic=topic, offset=offset, reason=record.reason.value)

    async def run(self, stop: asyncio.Event, *, until_idle_s: float | None = None) -> ServiceStats:
        """Until ``stop`` is set (or nothing arrived for ``until_idle_s``)."""
        await self.start()
        idle_since = self.clock()
        while not stop.is_set():
            if await self.step() or not self.consumer.assignment():
                idle_since = self.clock()  # idle counts only once partitions are assigned
            elif until_idle_s is not None and self.clock() - idle_since >= until_idle_s:
                break
        await self._settle_publish()
        self.stats.published += self.executor.publish()
        await self._sync_funding()  # notes the clocks after this run's last fills, too
        self.stats.published += self.executor.publish_pnl()
        return self.stats

    def close(self) -> None:
        self.consumer.close()
