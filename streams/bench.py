"""Pipeline benchmark: ticks through Kafka and the Faust agents, beside a raw relay baseline.

``run_pipeline_bench(quick)`` measures, in one run on the same broker and the same minute:

- **relay** (baseline B0c): a confluent-kafka relay of the same encoded ticks, topic A ->
  topic B: sustained msgs/s draining a backlog (``consume(1000)`` -> ``produce``), and A->B
  latency at a fixed offered rate (open loop, latency profile: ``linger.ms=0``, Nagle off);
- **faust** (B1/B2): ticks -> md.book -> md-sequencer -> market agent (tables, changelog) ->
  arb.opportunity: sustained ticks/s (a backlog drained by the market agent, counted on the
  ``md-latest`` changelog, one record per applied tick), and tick -> opportunity latency at the
  same offered rate: probe funding flips on a few probe assets open and close opportunities;
  each opportunity names the flip that caused it (``causation_id``), timed from its scheduled
  send to the probe consumer's receipt.

Latency is timed from the *scheduled* send time (no coordinated omission) and reported with
the relay's at the same rate (``ratio``). Figures are printed and returned, never asserted.
Ticks are pre-encoded (no per-message schema work in the load generator); every client sets
``linger.ms`` and Nagle explicitly. The worker runs without its digest writer (the digest walks
all state on the event loop; it would stall it every interval).
"""

from __future__ import annotations

import os
import platform
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from schemas.codec import Codec
from schemas.records.arb import Opportunity
from schemas.records.stream import SequencedBatch
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import key_for
from streams import synthetic as syn
from streams.harness import Pipeline
from streams.internal_topics import TABLES
from streams.internal_topics import changelog_name
from streams.isolation import create_prefixed_topics
from streams.isolation import delete_topics
from streams.wiring import CUT_PREFIX

COMMON = {"socket.nagle.disable": True, "acks": "all", "compression.type": "none"}
PRODUCER = {**COMMON, "linger.ms": 5, "batch.num.messages": 10_000, "batch.size": 1_048_576}
"""Throughput profile (backlogs, the relay's throughput run)."""
LATENCY_PRODUCER = {**COMMON, "linger.ms": 0}
"""Latency profile (the open-loop load generator, the relay's latency run)."""
CONSUMER = {"socket.nagle.disable": True, "fetch.wait.max.ms": 100, "enable.auto.commit": False}
PROBE_EVERY_S = 0.3
"""Per probe asset: longer than the market reducer's default 250 ms evaluation throttle."""


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


def _drain(consumer: Any, wait_s: float) -> list[Any]:
    """Block for the first message only, then take what is already there (<= 1000)."""
    first = consumer.poll(wait_s)
    if first is None:
        return []
    return [first, *consumer.consume(999, 0)]


def _pace(target: float) -> None:
    """Sleep until ``perf_counter() >= target``. Never spins: a spinning load generator holds
    the GIL and starves the relay and probe threads of the same process."""
    left = target - time.perf_counter()
    if left > 0:
        time.sleep(left)


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (Linux ``/proc``; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


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


def _consumer(bootstrap: str, topics: list[str], reset: str) -> Any:
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": reset,
            **CONSUMER,
        }
    )
    consumer.subscribe(topics)
    return consumer


def _wait_assigned(consumer: Any, timeout_s: float = 20.0) -> None:
    """Poll until the group assigned partitions (a ``latest`` consumer is then positioned)."""
    deadline = time.monotonic() + timeout_s
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.1)


def _relay_throughput(bootstrap: str, prefix: str, ticks: list[tuple[bytes, bytes]]) -> float:
    """msgs/s of a consume(1000) -> produce relay draining a backlog of ``ticks``."""
    from confluent_kafka import Producer

    source, target = prefix + MD_BOOK, prefix + MD_FUNDING
    _produce_all(bootstrap, source, ticks)
    consumer = _consumer(bootstrap, [source], "earliest")
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
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


def _relay_loop(stop: threading.Event, source: Any, target: str, producer: Any) -> None:
    """The latency-profile relay: block for the first message, relay what is there."""
    while not stop.is_set():
        for message in _drain(source, 0.05):
            if message.error() is None:
                producer.produce(target, message.value(), message.key())
        producer.poll(0)
    producer.flush(10)


def _receive_loop(
    stop: threading.Event, probe: Any, sent: dict[bytes, float], received: list[float]
) -> None:
    """The probe: milliseconds from each key's scheduled send to its receipt."""
    while not stop.is_set():
        for message in _drain(probe, 0.05):
            at = sent.pop(message.key(), None) if message.error() is None else None
            if at is not None:
                received.append((time.perf_counter() - at) * 1000)


def _relay_latency(
    bootstrap: str, prefix: str, ticks: list[tuple[bytes, bytes]], rate: float
) -> dict[str, float]:
    """A->B latency of a relay (latency profile) at ``rate`` msgs/s offered, open loop."""
    from confluent_kafka import Producer

    source, target = prefix + MD_BOOK, prefix + MD_FUNDING
    stop = threading.Event()
    sent: dict[bytes, float] = {}
    received: list[float] = []
    relay_in = _consumer(bootstrap, [source], "latest")
    probe = _consumer(bootstrap, [target], "latest")
    _wait_assigned(relay_in)
    _wait_assigned(probe)
    relay_out = Producer({"bootstrap.servers": bootstrap, **LATENCY_PRODUCER})
    threads = [
        threading.Thread(target=_relay_loop, args=(stop, relay_in, target, relay_out)),
        threading.Thread(target=_receive_loop, args=(stop, probe, sent, received)),
    ]
    for thread in threads:
        thread.start()
    producer = Producer({"bootstrap.servers": bootstrap, **LATENCY_PRODUCER})
    interval, began = 1.0 / rate, time.perf_counter() + 0.1
    for i, (_key, value) in enumerate(ticks):
        at = began + i * interval
        _pace(at)
        key = i.to_bytes(4, "big")
        sent[key] = at
        producer.produce(source, value, key)
        producer.poll(0)
    producer.flush(10)
    deadline = time.monotonic() + 3.0
    while sent and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for thread in threads:
        thread.join()
    relay_in.close()
    probe.close()
    return {**_percentiles(received), "offered_per_s": rate, "lost": len(sent)}


class _Progress:
    """Ticks the market agent applied: the cut it stores with its state (``@cut|<p>`` on the
    asset table changelog: next sequenced offset applied) against the sizes of the sequenced
    batches below it (read from ``md-sequenced``). The worker does no extra work."""

    def __init__(self, p: Pipeline) -> None:
        from confluent_kafka import Consumer

        self.codec = p.codec
        self.sequenced = p.settings.md_sequenced
        self.changelog = changelog_name(p.settings, TABLES["assets"])
        self._consumer = Consumer(
            {
                "bootstrap.servers": p.bootstrap,
                "group.id": f"ff-progress-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "topic.metadata.refresh.interval.ms": 500,
            }
        )
        self._consumer.subscribe([self.sequenced, self.changelog])
        self.sizes: dict[tuple[int, int], int] = {}
        self.cut: dict[int, int] = {}

    def __call__(self) -> int:
        for message in self._consumer.consume(5000, 0.05):
            if message.error() is not None:
                continue
            if message.topic() == self.sequenced:
                batch = self.codec.decode_as(message.value() or b"", SequencedBatch)
                self.sizes[(message.partition() or 0, message.offset() or 0)] = len(batch.values)
            elif (message.key() or b"").startswith(CUT_PREFIX):
                partition = int((message.key() or b"")[len(CUT_PREFIX) :])
                self.cut[partition] = int(message.value() or b"0")
        return sum(n for (p, o), n in self.sizes.items() if o < self.cut.get(p, 0))

    def close(self) -> None:
        self._consumer.close()


def _faust_throughput(
    p: Pipeline, progress: Callable[[], int], ticks: list[tuple[bytes, bytes]], timeout_s: float
) -> dict[str, float]:
    """ticks/s through both hops: from the start of producing a backlog of ``ticks`` until
    the market agent has applied all of them (end to end, so conservative).

    Faust's one fetch loop serves the sequencer first while md.book has a backlog (its
    buffer fills and the loop waits on it), so the market agent catches up at the end:
    a first-to-last-change rate would overstate it."""
    base = progress()
    assert p.worker is not None
    cpu0 = _cpu_s(p.worker.pid)
    started = time.perf_counter()
    _produce_all(p.bootstrap, p.prefix + MD_BOOK, ticks)
    done, deadline = base, time.monotonic() + timeout_s
    while done - base < len(ticks) and time.monotonic() < deadline:
        time.sleep(0.05)
        done = progress()
    elapsed = time.perf_counter() - started
    cpu1 = _cpu_s(p.worker.pid)
    out: dict[str, float] = {"ticks_per_s": round((done - base) / elapsed), "applied": done - base}
    if cpu0 is not None and cpu1 is not None:
        out["worker_cpu_pct"] = round(100 * (cpu1 - cpu0) / elapsed)
    return out


def _faust_latency(
    p: Pipeline, codec: Codec, ticks: list[tuple[bytes, bytes]], rate: float, probes: int
) -> dict[str, float]:
    """Tick -> opportunity latency: funding flips on ``probes`` probe assets, each every
    ``PROBE_EVERY_S``, among ``rate`` ticks/s of books (flips count in the offered rate)."""
    from confluent_kafka import Producer

    symbols = [f"P{i:02d}/USDT:USDT" for i in range(probes)]
    seq = [1]

    def books(symbol: str, t_ms: int) -> list[tuple[bytes, bytes]]:
        """Unchanged top of book, newer time: keeps the probe's legs fresh, evaluates nothing."""
        seq[0] += 1
        records = [syn.book(v, symbol, "100", t_ms, seq[0]) for v in ("ex-a", "ex-b")]
        return [(key_for(r), codec.encode(r, MD_BOOK)) for r in records]

    start = int(time.time() * 1000)
    setup: list[tuple[str, Any]] = []
    for s in symbols:  # long before the first flip: the books' evaluation does not throttle it
        setup += [(MD_BOOK, syn.book(v, s, "100", start, 1)) for v in ("ex-a", "ex-b")]
        setup.append((MD_FUNDING, syn.funding("ex-a", s, "0.0001", start, 1)))
    p.publish(setup)
    sent: dict[str, float] = {}
    received: list[float] = []
    consumer = _consumer(p.bootstrap, [p.prefix + ARB_OPPORTUNITY], "latest")
    stop = threading.Event()

    def receive() -> None:
        while not stop.is_set():
            for message in _drain(consumer, 0.05):
                if message.error() is not None:
                    continue
                record = codec.decode(message.value() or b"")
                cause = record.envelope.causation_id if isinstance(record, Opportunity) else None
                at = sent.pop(cause, None) if cause is not None else None
                if at is not None:
                    received.append((time.perf_counter() - at) * 1000)

    _wait_assigned(consumer)
    time.sleep(max(0.0, start / 1000 + 2 * PROBE_EVERY_S - time.time()))
    reader = threading.Thread(target=receive)
    reader.start()
    producer = Producer({"bootstrap.servers": p.bootstrap, **LATENCY_PRODUCER})
    book_topic, funding_topic = p.prefix + MD_BOOK, p.prefix + MD_FUNDING
    probe_every = max(1, int(rate * PROBE_EVERY_S / probes))
    interval, began = 1.0 / rate, time.perf_counter() + 0.1
    flips = 0
    for i, (key, value) in enumerate(ticks):
        at = began + i * interval
        _pace(at)
        if i % probe_every == 0:  # this slot carries a probe flip instead of a book
            symbol = symbols[flips % probes]
            t_ms = int(time.time() * 1000)
            for book_key, book_value in books(symbol, t_ms - 1):  # fresh legs, no evaluation
                producer.produce(book_topic, book_value, book_key)
            flips += 1
            rate_text = "0.002" if (flips - 1) // probes % 2 == 0 else "0.0001"
            record = syn.funding("ex-b", symbol, rate_text, t_ms, flips + 1)
            sent[record.envelope.event_id] = at
            producer.produce(funding_topic, codec.encode(record, MD_FUNDING), key_for(record))
        else:
            producer.produce(book_topic, value, key)
        producer.poll(0)
    producer.flush(10)
    deadline = time.monotonic() + 5.0
    while sent and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join()
    consumer.close()
    return {**_percentiles(received), "offered_per_s": rate, "probes": flips, "lost": len(sent)}


def _environment() -> dict[str, Any]:
    from importlib.metadata import version

    import confluent_kafka

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "loadavg_1m": round(load[0], 2) if load else None,
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "aiokafka": version("aiokafka"),
        "faust": version("faust-streaming"),
    }


def run_pipeline_bench(
    quick: bool = True,
    bootstrap: str = "127.0.0.1:9092",
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7",
    *,
    ticks: int | None = None,
    rate: float | None = None,
    seconds: float | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the benchmark; returns (and prints) every figure. Asserts nothing.

    Quick mode: 20k ticks of backlog, latency at 200 ticks/s for 8 s (about a minute in all:
    200/s stays below the Faust pipeline's measured capacity on the 2-core box, about
    650-800 ticks/s; at 500/s a queue builds and p50 is seconds); full: 100k ticks, 5k ticks/s
    for 20 s. ``ticks``, ``rate`` and ``seconds`` override them
    (a tiny run for a smoke test)."""
    n = ticks or (20_000 if quick else 100_000)
    offered = rate or (200.0 if quick else 5_000.0)
    duration = seconds or (8.0 if quick else 20.0)
    assets, probes = 20, 4
    codec = Codec(ConfluentRegistry(registry_url))
    start_ms = int(time.time() * 1000)
    backlog = _ticks(codec, n, assets, start_ms)
    paced = _ticks(codec, max(1, int(offered * duration)), assets, start_ms + n)
    result: dict[str, Any] = {
        "quick": quick,
        "ticks": n,
        "assets": assets,
        "venues": 3,
        "partitions": None,
        **_environment(),
    }
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    created = create_prefixed_topics(bootstrap, prefix, (MD_BOOK, MD_FUNDING))
    try:
        result["relay_msgs_per_s"] = round(_relay_throughput(bootstrap, prefix, backlog))
        result["relay_latency_ms"] = _relay_latency(bootstrap, prefix, paced, offered)
    finally:
        delete_topics(bootstrap, created)
    with Pipeline(bootstrap, registry_url, digest_path=None, log_level="WARNING") as p:
        result["partitions"] = p.settings.md_partitions
        progress = _Progress(p)
        try:
            started = time.perf_counter()
            p.start()
            p.publish([(MD_BOOK, syn.book("ex-a", "WRM/USDT:USDT", "100", start_ms, 1))])
            deadline = time.monotonic() + 60
            while progress() < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            result["faust_first_event_s"] = round(time.perf_counter() - started, 1)
            faust = _faust_throughput(p, progress, backlog, 120.0)
            result["faust_ticks_per_s"] = faust.pop("ticks_per_s")
            result["faust_throughput"] = faust
            result["faust_latency_ms"] = _faust_latency(p, codec, paced, offered, probes)
        finally:
            progress.close()
    relay = result["relay_msgs_per_s"]
    result["ratio_faust_to_relay"] = (
        round(result["faust_ticks_per_s"] / relay, 4) if relay else None
    )
    relay_p = result["relay_latency_ms"]
    faust_p = result["faust_latency_ms"]
    result["latency_ratio_p50_p99"] = [
        round(faust_p[q] / relay_p[q], 1) if faust_p.get(q) and relay_p.get(q) else None
        for q in ("p50", "p99")
    ]
    if verbose:
        print(result)
    return result
