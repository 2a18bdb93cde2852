"""Pipeline benchmark: ticks through Kafka and the Faust agents, beside a raw relay baseline.

``run_pipeline_bench(quick)`` measures, in one run on the same broker:

- **relay** (baseline): a confluent-kafka consume(1000) -> produce relay of the same encoded
  ticks, topic A -> topic B: sustained msgs/s, and A->B latency at the offered rate;
- **faust**: ticks -> md.book -> md-sequencer -> market agent (tables, changelog) ->
  arb.opportunity: sustained ticks/s (backlog drained by the market agent), and
  tick -> opportunity latency at a fixed offered rate (probe funding flips that open and close
  an opportunity, timed from produce to the probe consumer's receipt).

Figures are printed and returned, never asserted. Ticks are pre-encoded (no per-message
schema work in the load generator); every client sets ``linger.ms`` and Nagle explicitly.
"""

from __future__ import annotations

import threading
import time
import uuid
from decimal import Decimal
from typing import Any

from schemas.codec import Codec
from schemas.records.arb import Opportunity
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import key_for
from streams import synthetic as syn
from streams.digest import read_digest
from streams.harness import Pipeline
from streams.isolation import create_prefixed_topics
from streams.isolation import delete_topics

PRODUCER = {"linger.ms": 1, "socket.nagle.disable": True, "batch.num.messages": 10_000}
LATENCY_PRODUCER = {"linger.ms": 0, "socket.nagle.disable": True}


def _ticks(codec: Codec, n: int, assets: int, start_ms: int) -> list[tuple[bytes, bytes]]:
    """``n`` encoded book ticks over ``assets`` assets x 3 venues (top of book always moves)."""
    out = []
    venues = ("ex-a", "ex-b", "ex-c")
    for i in range(n):
        asset = f"B{i % assets:03d}"
        venue = venues[(i // assets) % 3]
        mid = Decimal(100) + Decimal(i % 50) / 100
        record = syn.book(venue, f"{asset}/USDT:USDT", mid, start_ms + i // 10, i + 1)
        out.append((key_for(record), codec.encode(record, MD_BOOK)))
    return out


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    if not samples_ms:
        return {"n": 0}
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0)}


def _produce_all(bootstrap: str, topic: str, ticks: list[tuple[bytes, bytes]]) -> float:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
    started = time.perf_counter()
    for i, (key, value) in enumerate(ticks):
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    return started


def _relay_throughput(bootstrap: str, prefix: str, ticks: list[tuple[bytes, bytes]]) -> float:
    """msgs/s of a consume(1000) -> produce relay draining a backlog of ``ticks``."""
    from confluent_kafka import Consumer
    from confluent_kafka import Producer

    source, target = prefix + MD_BOOK, prefix + MD_FUNDING
    _produce_all(bootstrap, source, ticks)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"relay-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "socket.nagle.disable": True,
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
    consumer.subscribe([source])
    relayed, started = 0, 0.0
    deadline = time.monotonic() + 120
    while relayed < len(ticks) and time.monotonic() < deadline:
        batch = consumer.consume(1000, 0.5)
        if batch and not started:
            started = time.perf_counter()
        for message in batch:
            if message.error() is None:
                producer.produce(target, message.value(), message.key())
                relayed += 1
        producer.poll(0)
    producer.flush(30)
    elapsed = time.perf_counter() - started
    consumer.close()
    return relayed / elapsed if elapsed > 0 else 0.0


def _faust_throughput(p: Pipeline, ticks: list[tuple[bytes, bytes]], timeout_s: float) -> float:
    """ticks/s the market agent drains a backlog at (positions from the worker's digest)."""
    assert p.settings.digest_path is not None
    base = _processed(p)
    _produce_all(p.bootstrap, p.prefix + MD_BOOK, ticks)
    first: tuple[float, int] | None = None
    last = (time.perf_counter(), base)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = _processed(p)
        now = time.perf_counter()
        if first is None and done > base:
            first = (now, done)
        last = (now, done)
        if done - base >= len(ticks):
            break
        time.sleep(0.1)
    if first is None or last[0] <= first[0]:
        return 0.0
    return (last[1] - first[1]) / (last[0] - first[0])


def _processed(p: Pipeline) -> int:
    assert p.settings.digest_path is not None
    document = read_digest(p.settings.digest_path)
    if document is None:
        return 0
    return sum(document["cut"].get(p.settings.md_sequenced, {}).values())


def _faust_latency(
    p: Pipeline, codec: Codec, rate: float, seconds: float, assets: int
) -> dict[str, float]:
    """Tick -> opportunity latency: probe funding flips among ``rate`` ticks/s of books."""
    from confluent_kafka import Consumer
    from confluent_kafka import Producer

    symbol = "PRB/USDT:USDT"
    start = int(time.time() * 1000)
    setup = [
        syn.book("ex-a", symbol, "100", start, 1),
        syn.book("ex-b", symbol, "100", start, 1),
        syn.funding("ex-a", symbol, "0.0001", start, 1),
    ]
    p.publish([(MD_BOOK, r) for r in setup[:2]] + [(MD_FUNDING, setup[2])])
    sent: dict[str, float] = {}
    received: list[float] = []
    consumer = Consumer(
        {
            "bootstrap.servers": p.bootstrap,
            "group.id": f"probe-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "latest",
            "socket.nagle.disable": True,
            "fetch.wait.max.ms": 5,
        }
    )
    consumer.subscribe([p.prefix + ARB_OPPORTUNITY])
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            for message in consumer.consume(100, 0.05):
                if message.error() is not None:
                    continue
                record = codec.decode(message.value() or b"")
                cause = record.envelope.causation_id if isinstance(record, Opportunity) else None
                if cause in sent:
                    received.append((time.perf_counter() - sent.pop(cause)) * 1000)

    reader = threading.Thread(target=probe)
    reader.start()
    time.sleep(2.0)  # the probe consumer joins and is positioned
    producer = Producer({"bootstrap.servers": p.bootstrap, **LATENCY_PRODUCER})
    ticks = _ticks(codec, int(rate * seconds), assets, start)
    interval = 1.0 / rate
    began = time.perf_counter()
    flip = 0
    for i, (key, value) in enumerate(ticks):
        target = began + i * interval
        while time.perf_counter() < target:
            pass
        producer.produce(p.prefix + MD_BOOK, value, key)
        if i % max(1, int(rate * 0.3)) == 0:  # a probe every 300 ms (> the eval throttle)
            flip += 1
            rate_text = "0.002" if flip % 2 else "0.0001"
            t_ms = int(time.time() * 1000)
            record = syn.funding("ex-b", symbol, rate_text, t_ms, flip + 1)
            sent[record.envelope.event_id] = time.perf_counter()
            producer.produce(p.prefix + MD_FUNDING, codec.encode(record, MD_FUNDING), b"PRB")
        producer.poll(0)
    producer.flush(10)
    time.sleep(2.0)
    stop.set()
    reader.join()
    consumer.close()
    return {**_percentiles(received), "offered_ticks_per_s": rate, "probes": flip}


def run_pipeline_bench(
    quick: bool = True,
    bootstrap: str = "127.0.0.1:9092",
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7",
) -> dict[str, Any]:
    """Run the benchmark; returns (and prints) every figure. Asserts nothing."""
    import confluent_kafka

    n = 20_000 if quick else 100_000
    rate, seconds = (2_000.0, 5.0) if quick else (5_000.0, 20.0)
    assets = 20
    codec = Codec(ConfluentRegistry(registry_url))
    start_ms = int(time.time() * 1000)
    ticks = _ticks(codec, n, assets, start_ms)
    result: dict[str, Any] = {
        "quick": quick,
        "ticks": n,
        "assets": assets,
        "venues": 3,
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
    }
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    created = create_prefixed_topics(bootstrap, prefix, (MD_BOOK, MD_FUNDING))
    try:
        result["relay_msgs_per_s"] = round(_relay_throughput(bootstrap, prefix, ticks))
    finally:
        delete_topics(bootstrap, created)
    with Pipeline(bootstrap, registry_url, digest_interval_s=0.25, log_level="WARNING") as p:
        p.start()
        p.publish([(MD_BOOK, syn.book("ex-a", "WRM/USDT:USDT", "100", start_ms, 1))])
        deadline = time.monotonic() + 60
        while _processed(p) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        result["faust_ticks_per_s"] = round(_faust_throughput(p, ticks, 180.0))
        result["latency_ms"] = _faust_latency(p, codec, rate, seconds, assets)
    relay = result["relay_msgs_per_s"]
    result["ratio_faust_to_relay"] = (
        round(result["faust_ticks_per_s"] / relay, 3) if relay else None
    )
    print(result)
    return result
