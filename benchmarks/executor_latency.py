"""Executor speed on the paper venues: decision -> first order acknowledged, and orders/s.

    python -m benchmarks.executor_latency [--decisions 300] [--rate 50] [--burst 500] [--json]

Three figures, against the stack's Kafka and PostgreSQL and the sim venues behind their order
gateway (loopback HTTP). The gateway and the decision producer each run in their own process
(spawn), so the executor under test (this process) shares its interpreter with neither; logging
is configured as ``fundingflow execute`` configures it (INFO):

- baseline: market orders sent straight to the gateway (``CcxtOrderVenue.submit``, no ledger,
  no Kafka): the venue round trip every executor order pays;
- latency: approved decisions produced to ``risk.decision`` at ``--rate`` per second (the
  producer sends each at once: ``linger.ms`` 0), consumed by the execution service; from the
  produce call to the first order's venue answer stored in the ledger (p50 / p99 / max), with
  the ratio to the baseline round trip;
- throughput: ``--burst`` decisions opened as the service opens a polled batch (``open_many``,
  up to 500 at a time) and driven at once: orders/s through intent, send, answer and outbox
  (per round: one commit for the intents, one for the sends, one for the answers; 1 venue call
  and 3-4 Kafka records per order).

Prints figures only; nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from contextlib import asynccontextmanager
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import Consumer
from confluent_kafka import Producer

from benchmarks.processes import CTX
from benchmarks.processes import LATENCY_PRODUCER
from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.order_venue import CcxtOrderVenue
from connectors.publisher import KafkaPublisher
from connectors.sim.remote import RemoteSimExchange
from connectors.venues import profile_for
from executors.engine import Executor
from executors.service import ExecutionService
from executors.service import consumer_config
from fundingflow.log import configure_logging
from fundingflow.settings import load_settings
from processors.pairs import open_pair
from schemas.records.common import Side
from schemas.records.execution import OrderPurpose
from tests.event_stores import EventProducer
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.ledger_db import scratch_schema
from tests.paper_venues import EXECUTOR_TOPICS
from tests.paper_venues import PaperVenues
from tests.paper_venues import decision

BATCH = 500
"""Decisions opened together in the burst: the service's largest polled batch."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _venues(url: str, ids: list[str]) -> list[CcxtOrderVenue]:
    return [
        CcxtOrderVenue(
            CcxtVenue(
                RemoteSimExchange(v, url),
                venue_id=v,
                settings=ConnectorSettings(),
                profile=profile_for("sim"),
            ),
            session="paper:bench",
        )
        for v in ids
    ]


async def _baseline(url: str, at_ms: int, n: int) -> dict[str, float]:
    (venue,) = _venues(url, ["sim-okx"])
    one = decision(at_ms)
    _, (order,) = open_pair(one, ((await _lot(venue, one)), (await _lot(venue, one))))
    times = []
    started = time.perf_counter()
    for i in range(n):
        side = Side.BUY if i % 2 == 0 else Side.SELL  # flat afterwards: the executor reconciles
        sent = order.model_copy(
            update={"client_order_id": uuid.uuid4().hex, "slice_index": i, "side": side}
        )
        t0 = time.perf_counter()
        await venue.submit(sent)
        times.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - started
    await venue.close()
    return {
        "baseline_submit_p50_ms": percentile(times, 0.5),
        "baseline_submit_p99_ms": percentile(times, 0.99),
        "baseline_submits_per_s": n / elapsed,
    }


async def _lot(venue: CcxtOrderVenue, d: Any) -> Any:
    from processors.pairs import LegLot

    facts = await venue.facts(d.legs[0].instrument)
    size = facts.contract_size_base
    return LegLot((facts.amount_step or 0) * size, (facts.min_amount or 0) * size)


def _first_acks(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Signal id -> wall ms at which its first order's venue answer was stored."""
    rows = conn.execute(
        "SELECT o.signal_id, t.recorded_ms FROM orders o JOIN order_transitions t"
        " USING (client_order_id) WHERE o.leg_index = 0 AND o.slice_index = 0"
        " AND o.purpose = %s AND t.seq = 2",
        (OrderPurpose.ENTRY.value,),
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


@dataclass(frozen=True)
class _Gateway:
    """The paper venues' gateway as the executor sees it: its URL, venue ids and world time."""

    url: str
    ids: list[str]
    now_ms: int


def gateway_main(conn: Any) -> None:
    """Child process: serve the paper venues until told to stop (anything on ``conn``)."""
    venues = PaperVenues().start()
    try:
        conn.send((venues.url, sorted(venues.exchanges), venues.now_ms))
        conn.recv()
    finally:
        venues.stop()


def producer_main(
    bootstrap: str, registry_url: str, prefix: str, now_ms: int, n: int, rate: float, out: Any
) -> None:
    """Child process: produce ``n`` approved decisions at ``rate``/s, each at once (linger 0);
    puts {decision id: wall ms of its produce call} on ``out``."""
    producer = EventProducer(bootstrap, registry_url, prefix)
    producer.producer = Producer({"bootstrap.servers": bootstrap, **LATENCY_PRODUCER})
    made = [decision(now_ms) for _ in range(n)]
    encoded = [(d, producer.codec.encode(d, "risk.decision")) for d in made]
    sent_ms: dict[str, float] = {}
    start = time.perf_counter()
    for i, (d, value) in enumerate(encoded):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        sent_ms[d.decision_id] = time.time() * 1000
        producer.producer.produce(f"{prefix}risk.decision", value, d.opportunity_id)
        producer.producer.poll(0)
    producer.producer.flush(30)
    out.put(sent_ms)


@contextmanager
def _gateway_process() -> Iterator[_Gateway]:
    ours, theirs = CTX.Pipe()
    child = CTX.Process(target=gateway_main, args=(theirs,), name="paper-gateway", daemon=True)
    child.start()
    try:
        if not ours.poll(60):
            raise RuntimeError("the paper venues' gateway process did not start")
        url, ids, now_ms = ours.recv()
        yield _Gateway(url, ids, now_ms)
    finally:
        ours.send("stop")
        child.join(10)
        if child.is_alive():
            child.kill()


@dataclass
class _Bench:
    """An executor on the paper venues, a scratch schema and topics under a fresh prefix."""

    prefix: str
    publisher: KafkaPublisher
    conn: psycopg.Connection[Any]
    executor: Executor


@asynccontextmanager
async def _bench_executor(
    venues: _Gateway, schema_name: str, conninfo: str
) -> AsyncIterator[_Bench]:
    settings = load_settings()
    prefix = f"bench-exec-{uuid.uuid4().hex[:8]}."
    create_topics(settings.kafka.bootstrap, prefix, EXECUTOR_TOPICS)
    publisher = KafkaPublisher(settings.kafka.bootstrap, settings.registry.url, topic_prefix=prefix)
    conn = psycopg.connect(conninfo, options=f"-c search_path={schema_name}", autocommit=True)
    executor = Executor(
        conn, {v.id: v for v in _venues(venues.url, venues.ids)}, publisher.codec, publisher
    )
    try:
        yield _Bench(prefix, publisher, conn, executor)
    finally:
        for venue in executor.venues.values():
            await venue.close()  # the ccxt clients' HTTP sessions
        publisher.close()
        conn.close()
        delete_topics(settings.kafka.bootstrap, prefix, EXECUTOR_TOPICS)


async def _latency(
    venues: _Gateway, schema_name: str, conninfo: str, n: int, rate: float
) -> dict[str, float]:
    async with _bench_executor(venues, schema_name, conninfo) as bench:
        return await _latency_on(bench, venues, n, rate)


async def _latency_on(bench: _Bench, venues: _Gateway, n: int, rate: float) -> dict[str, float]:
    settings = load_settings()
    prefix, conn, executor = bench.prefix, bench.conn, bench.executor
    publisher = bench.publisher
    consumer = Consumer(consumer_config(settings.kafka.bootstrap, prefix + "executor"))
    service = ExecutionService(
        executor,
        consumer,
        publisher.codec,
        topic_prefix=prefix,
        poll_s=0.02,
        reconcile_every_s=3600,
    )
    await service.start()
    out = CTX.Queue()
    args = (settings.kafka.bootstrap, settings.registry.url, prefix, venues.now_ms, n, rate, out)
    producer = CTX.Process(target=producer_main, args=args, name="decisions", daemon=True)
    producer.start()
    sent_ms: dict[str, float] | None = None
    deadline = time.monotonic() + n / rate + 60
    while time.monotonic() < deadline:
        await service.step()
        if sent_ms is None and not out.empty():
            sent_ms = out.get()
        if sent_ms is not None and len(_first_acks(conn)) >= n:  # checked once all are sent
            break
    if sent_ms is None:
        sent_ms = out.get(timeout=30)
    producer.join(10)
    acks = _first_acks(conn)
    latencies = [acks[s] - sent_ms[s] for s in sent_ms if s in acks]
    service.close()
    return {
        "latency_decisions": float(len(latencies)),
        "latency_lost": float(n - len(latencies)),
        "latency_p50_ms": percentile(latencies, 0.5),
        "latency_p99_ms": percentile(latencies, 0.99),
        "latency_max_ms": max(latencies) if latencies else float("nan"),
    }


async def _throughput(
    venues: _Gateway, schema_name: str, conninfo: str, n: int
) -> dict[str, float]:
    async with _bench_executor(venues, schema_name, conninfo) as bench:
        made = [decision(venues.now_ms) for _ in range(n)]
        started = time.perf_counter()
        for i in range(0, n, BATCH):  # as the service opens a polled batch
            await bench.executor.open_many(made[i : i + BATCH])
        await bench.executor.drive()
        bench.executor.publish()
        elapsed = time.perf_counter() - started
        orders = bench.conn.execute("SELECT count(*) FROM orders").fetchone()
    count = int(orders[0]) if orders else 0
    return {"burst_orders": float(count), "burst_orders_per_s": count / elapsed}


def run(decisions: int, rate: float, burst: int) -> dict[str, float]:
    conninfo = load_settings().postgres.conninfo()
    with _gateway_process() as venues:
        figures = asyncio.run(_baseline(venues.url, venues.now_ms, 200))  # even: nets to zero
        with scratch_schema(conninfo) as schema:
            figures |= asyncio.run(_latency(venues, schema.name, conninfo, decisions, rate))
        with scratch_schema(conninfo) as schema:
            figures |= asyncio.run(_throughput(venues, schema.name, conninfo, burst))
    figures["latency_p50_over_baseline"] = (
        figures["latency_p50_ms"] / figures["baseline_submit_p50_ms"]
    )
    figures["burst_over_baseline"] = (
        figures["burst_orders_per_s"] / figures["baseline_submits_per_s"]
    )
    figures["load_average_1m"] = os.getloadavg()[0]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    configure_logging(load_settings().log_level, json=True)
    figures = run(args.decisions, args.rate, args.burst)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return
    for name, value in figures.items():
        print(f"{name:>28}: {value:,.2f}")


if __name__ == "__main__":
    main()
