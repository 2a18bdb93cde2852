"""Pipeline benchmark: the system (Kafka, the sequencer, Faust) beside baselines of one run.

``run_pipeline_bench(quick)`` measures, in one run on the same broker and the same minute:

- **baselines**: raw produce, raw consume and a consume -> produce relay of the same encoded
  ticks (msgs/s over a backlog), one hop's produce -> consume latency and the relay's A -> B
  latency at each offered rate (load generator and relay producers: ``linger_ms``, default
  1 ms: with 0 every message is its own produce request, and at 5k/s on the 2-core box the
  broker queues them: one hop's p50 was 31 ms against 2.8 ms with 1 ms);
- **faust**: ticks -> md.book -> sequencer -> market agent (tables, changelog) ->
  arb.opportunity: ticks/s draining a backlog (end to end: from the first produce until the
  agent's stored cut covers every tick), then tick -> opportunity latency at each offered
  rate: probe funding flips on a few probe assets open and close opportunities, each naming
  the flip that caused it (``causation_id``), timed from its scheduled send to its receipt;
- **plain**: the same topology with a plain confluent-kafka consumer loop instead of Faust
  (:func:`benchmarks.processes.plain_main`), the same backlog and rates: ``faust_to_plain`` is
  Faust's cost as a number.

The load generator, the probe consumer, the relay and the plain worker each run in their own
process (:mod:`benchmarks.processes`): no figure is bounded by the harness's GIL. Latency is
timed from the *scheduled* send (open loop, no coordinated omission) and reports p50, p90,
p99, p99.9, max, the probes sent and lost, how far the generator fell behind its schedule and
the lag growth over the run (a rate is *sustained* when no probe is lost and the lag stays
flat). Every figure carries the load average. Figures are printed and returned, never
asserted. The Faust worker runs without its digest writer (it walks all state on the event
loop every interval).
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from collections.abc import Callable
from typing import Any

from benchmarks import processes as procs
from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import delete_topics
from benchmarks.isolation import publish_records
from benchmarks.pools import TickPool
from schemas.codec import Codec
from schemas.records.stream import SequencedBatch
from schemas.registry import ConfluentRegistry
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import by_name
from streams.internal_topics import TABLES
from streams.internal_topics import changelog_name
from streams.internal_topics import ensure_internal_topics
from streams.wiring import CUT_PREFIX

PROBE_EVERY_S = 0.3
"""Per probe asset: longer than the market reducer's default 250 ms evaluation throttle."""
PROBES = 4
ASSETS = 20


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    if not samples_ms:
        return {"n": 0}
    ordered = sorted(samples_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": at(1.0),
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _loadavg() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` (Linux ``/proc``; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _produce_all(bootstrap: str, topic: str, ticks: list[tuple[bytes, bytes]]) -> float:
    """Produce ``ticks`` (throughput profile) and wait for the acks; returns msgs/s."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, **procs.PRODUCER})
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
    elapsed = time.perf_counter() - started
    return len(ticks) / elapsed if elapsed > 0 else 0.0


def _consume_all(bootstrap: str, topic: str, n: int) -> float:
    """msgs/s of a ``consume(1000)`` loop reading ``n`` messages of ``topic`` from the start
    (timed from the first message: the group join is not in it)."""
    consumer = procs.consumer(bootstrap, [topic], "earliest")
    seen, started = 0, 0.0
    deadline = time.monotonic() + 120
    while seen < n and time.monotonic() < deadline:
        batch = consumer.consume(1000, 0.5)
        if batch and not started:
            started = time.perf_counter()
        seen += sum(1 for m in batch if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return seen / elapsed if elapsed > 0 and started else 0.0


def _relay_throughput(bootstrap: str, source: str, target: str, n: int) -> float:
    """msgs/s of a consume(1000) -> produce relay draining a backlog of ``n`` on ``source``."""
    from confluent_kafka import Producer

    consumer = procs.consumer(bootstrap, [source], "earliest")
    producer = Producer({"bootstrap.servers": bootstrap, **procs.PRODUCER})
    relayed, started = 0, 0.0
    deadline = time.monotonic() + 120
    while relayed < n and time.monotonic() < deadline:
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


def _open_loop(
    bootstrap: str,
    plan: dict[str, Any],
    ticks: list[tuple[bytes, bytes]],
    probe: tuple[str, str, str | None],
    grace_s: float,
    relay: tuple[str, str, float] | None = None,
) -> dict[str, Any]:
    """One open-loop latency run: probe consumer, optional relay and the load generator, each
    in its own process; ``probe`` is (topic, mode, registry url). Probe ids that were sent but
    not received ``grace_s`` after the last send are ``lost``."""
    stop, probe_ready = procs.CTX.Event(), procs.CTX.Event()
    received = procs.CTX.Value("i", 0)
    probe_out, generator_out = procs.CTX.Queue(), procs.CTX.Queue()
    topic, mode, registry_url = probe
    children = [
        procs.start(
            procs.probe_main,
            bootstrap,
            topic,
            mode,
            registry_url,
            probe_ready,
            stop,
            received,
            probe_out,
        )
    ]
    if relay is not None:
        relay_ready = procs.CTX.Event()
        children.append(procs.start(procs.relay_main, bootstrap, *relay, relay_ready, stop))
        relay_ready.wait(30)
    probe_ready.wait(30)
    load0 = _loadavg()
    generator = procs.start(procs.generator_main, bootstrap, plan, ticks, generator_out)
    result = generator_out.get(timeout=len(ticks) / plan["rate"] + 120)
    generator.join(10)
    sent: dict[Any, float] = result["sent"]
    deadline = time.monotonic() + grace_s
    while received.value < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    seen: dict[Any, float] = probe_out.get(timeout=30)
    for child in children:
        child.join(15)
    samples = [(seen[k] - at) * 1000 for k, at in sent.items() if k in seen]
    fifth = max(1, len(samples) // 5)
    growth = _median(samples[-fifth:]) - _median(samples[:fifth]) if len(samples) >= 5 else None
    return {
        **_percentiles(samples),
        "lag_growth_ms": None if growth is None else round(growth, 2),
        "offered_per_s": plan["rate"],
        "sent_probes": len(sent),
        "lost": len(sent) - len(samples),
        "generator_behind_ms_max": result["behind_ms_max"],
        "flips": result.get("flips"),
        "loadavg_1m": [load0, _loadavg()],
    }


LAG_FLAT_MS = 50.0
"""A run sustained its rate when the probes' latency grew less than this from its first fifth
to its last (a queue that builds grows it by seconds)."""
TARGETS = {
    "faust_ticks_per_s": 25_000,
    "faust_to_relay": 0.08,
    "plain_ticks_per_s": 60_000,
    "latency_at_5k_p50_ms": 5,
    "latency_at_5k_p99_ms": 15,
    "replay_events_per_s": 100_000,
    "rss_growth_mb_10m": 30,
}
"""Issue 8's targets, printed beside the figures (never asserted)."""


def _rates(quick: bool, rates: tuple[float, ...] | None) -> tuple[float, ...]:
    return rates or ((1_000.0, 5_000.0) if quick else (1_000.0, 5_000.0, 20_000.0))


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

    def observe(self, quiet_s: float = 0.5, timeout_s: float = 15.0) -> dict[str, int]:
        """Read both topics until nothing new arrives for ``quiet_s``: batches sequenced, ticks
        in them, ticks applied (the stored cut)."""
        deadline = time.monotonic() + timeout_s
        seen, quiet_since = -1, time.monotonic()
        applied = 0
        while time.monotonic() < deadline:
            applied = self()
            now = (len(self.sizes), sum(self.cut.values()))
            if hash(now) != seen:
                seen, quiet_since = hash(now), time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                break
        return {
            "batches": len(self.sizes),
            "sequenced": sum(self.sizes.values()),
            "applied": applied,
        }

    def close(self) -> None:
        self._consumer.close()


def _drain_throughput(
    bootstrap: str,
    topic: str,
    pid: int,
    progress: Callable[[], int],
    backlog: list[tuple[bytes, bytes]],
    timeout_s: float,
) -> dict[str, Any]:
    """ticks/s through both hops: from the start of producing a backlog of ``n`` ticks until
    the market reducer of process ``pid`` has applied all of them (end to end, so
    conservative: the sequencer and the market loop share one process and its fetches)."""
    base = progress()
    cpu0 = _cpu_s(pid)
    load0 = _loadavg()
    started = time.perf_counter()
    _produce_all(bootstrap, topic, backlog)
    done, deadline = base, time.monotonic() + timeout_s
    while done - base < len(backlog) and time.monotonic() < deadline:
        time.sleep(0.02)
        done = progress()
    elapsed = time.perf_counter() - started
    cpu1 = _cpu_s(pid)
    out: dict[str, Any] = {
        "ticks_per_s": round((done - base) / elapsed),
        "applied": done - base,
        "seconds": round(elapsed, 2),
        "loadavg_1m": [load0, _loadavg()],
    }
    if cpu0 is not None and cpu1 is not None:
        out["worker_cpu_pct"] = round(100 * (cpu1 - cpu0) / elapsed)
    return out


def _settle(pid: int, timeout_s: float = 60.0) -> float | None:
    """Seconds until process ``pid`` is quiet (under 20 % of a core over half a second) after
    the backlog: the latency runs start on a settled worker (None: not within ``timeout_s``)."""
    started = time.monotonic()
    last = _cpu_s(pid)
    while time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        now = _cpu_s(pid)
        if last is None or now is None:
            return None
        if now - last < 0.1:
            return round(time.monotonic() - started, 1)
        last = now
    return None


def _probe_setup(bootstrap: str, codec: Codec, prefix: str) -> list[str]:
    """Legs and a first funding rate of each probe symbol, long before the first flip (their
    evaluation does not throttle it); returns the symbols."""
    symbols = [f"P{i:02d}/USDT:USDT" for i in range(PROBES)]
    start = int(time.time() * 1000)
    setup: list[tuple[str, Any]] = []
    for s in symbols:
        setup += [(MD_BOOK, syn.book(v, s, "100", start, 1)) for v in ("ex-a", "ex-b")]
        setup.append((MD_FUNDING, syn.funding("ex-a", s, "0.0001", start, 1)))
    publish_records(bootstrap, codec, setup, prefix)
    time.sleep(2 * PROBE_EVERY_S)
    return symbols


def _flip_latency(
    bootstrap: str,
    registry_url: str,
    prefix: str,
    symbols: list[str],
    paced: dict[float, list[tuple[bytes, bytes]]],
    progress: _Progress,
    linger_ms: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """Tick -> opportunity latency per offered rate: funding flips on the probe symbols, each
    every ``PROBE_EVERY_S``, among the rate's books (flips count in the offered rate).

    With each run: the sequenced batches it made and their mean size, and the ticks sequenced
    but not applied at its end (``unapplied_at_end``: the market loop's lag in ticks)."""
    out: dict[str, dict[str, Any]] = {}
    flips = 0
    for rate, ticks in paced.items():
        plan = {
            "mode": "flip",
            "rate": rate,
            "linger_ms": linger_ms,
            "book_topic": prefix + MD_BOOK,
            "funding_topic": prefix + MD_FUNDING,
            "registry_url": registry_url,
            "symbols": symbols,
            "probe_every": max(1, int(rate * PROBE_EVERY_S / len(symbols))),
            "flips0": flips,
            "seq0": 1_000_000 + 10 * flips,
        }
        probe = (prefix + ARB_OPPORTUNITY, "causation", registry_url)
        before = progress.observe()
        figure = _open_loop(bootstrap, plan, ticks, probe, 10.0)
        after = progress.observe(quiet_s=0.3, timeout_s=2.0)
        batches = after["batches"] - before["batches"]
        figure["sequenced_batches"] = batches
        figure["mean_batch"] = (
            round((after["sequenced"] - before["sequenced"]) / batches, 1) if batches else None
        )
        figure["unapplied_at_end"] = after["sequenced"] - after["applied"]
        flips = figure.pop("flips") or flips
        out[str(int(rate))] = figure
    return out


def _sustained(latency: dict[str, dict[str, Any]]) -> float | None:
    """The highest offered rate whose run lost no probe and whose lag stayed flat."""
    ok = [
        float(rate)
        for rate, f in latency.items()
        if f.get("n") and not f["lost"] and f.get("lag_growth_ms", 1e9) < LAG_FLAT_MS
    ]
    return max(ok) if ok else None


def _variant(
    name: str,
    bootstrap: str,
    registry_url: str,
    codec: Codec,
    backlog: list[tuple[bytes, bytes]],
    paced: dict[float, list[tuple[bytes, bytes]]],
    linger_ms: float = 0.0,
) -> dict[str, Any]:
    """One variant (``faust``: the worker; ``plain``: :func:`benchmarks.processes.plain_main`):
    first event, backlog throughput, latency at each offered rate."""
    figures: dict[str, Any] = {}
    with Pipeline(bootstrap, registry_url, digest_path=None, log_level="WARNING") as p:
        progress = _Progress(p)
        plain: Any = None
        stop = procs.CTX.Event()
        applied = procs.CTX.Value("q", 0)
        try:
            started = time.perf_counter()
            if name == "faust":
                p.start()
                assert p.worker is not None
                pid = p.worker.pid
                count: Callable[[], int] = progress
            else:
                ensure_internal_topics(p.settings)
                ready = procs.CTX.Event()
                settings = p.settings.model_dump_json()
                plain = procs.start(procs.plain_main, settings, ready, stop, applied)
                ready.wait(60)
                pid = plain.pid

                def count() -> int:
                    return int(applied.value)

            p.publish([(MD_BOOK, syn.book("ex-a", "WRM/USDT:USDT", "100", 1, 1))])
            deadline = time.monotonic() + 60
            while count() < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            figures["first_event_s"] = round(time.perf_counter() - started, 1)
            topic = p.prefix + MD_BOOK
            figures.update(_drain_throughput(bootstrap, topic, pid, count, backlog, 120))
            figures["settle_s"] = _settle(pid)
            symbols = _probe_setup(bootstrap, codec, p.prefix)
            figures["latency_ms"] = _flip_latency(
                bootstrap, registry_url, p.prefix, symbols, paced, progress, linger_ms
            )
            figures["sustained_per_s"] = _sustained(figures["latency_ms"])
        finally:
            progress.close()
            if plain is not None:
                stop.set()
                plain.join(20)
                if plain.is_alive():
                    plain.kill()
    return figures


def _environment() -> dict[str, Any]:
    from importlib.metadata import version

    import confluent_kafka

    return {
        "python": platform.python_version(),
        "nproc": os.cpu_count(),
        "loadavg_1m": _loadavg(),
        "confluent_kafka": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "aiokafka": version("aiokafka"),
        "faust_streaming": version("faust-streaming"),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a and b else None


def run_pipeline_bench(
    quick: bool = True,
    bootstrap: str = "127.0.0.1:9092",
    registry_url: str = "http://127.0.0.1:8081/apis/ccompat/v7",
    *,
    ticks: int | None = None,
    rates: tuple[float, ...] | None = None,
    seconds: float | None = None,
    variants: tuple[str, ...] = ("faust", "plain"),
    linger_ms: float = 1.0,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the benchmark; returns (and prints) every figure. Asserts nothing.

    Quick mode: 20k ticks of backlog, latency at 1k and 5k ticks/s for 4 s each; full: 100k
    ticks, 1k, 5k and 20k ticks/s for 10 s each. ``ticks``, ``rates`` and ``seconds`` override
    them (a tiny run for a smoke test); ``variants`` picks ``faust`` and/or ``plain``;
    ``linger_ms`` is the load generator's and the latency relay's producer linger."""
    n = ticks or (20_000 if quick else 100_000)
    offered = _rates(quick, rates)
    duration = seconds or (4.0 if quick else 10.0)
    codec = Codec(ConfluentRegistry(registry_url))
    pool = TickPool(codec, ASSETS)
    start_ms = int(time.time() * 1000)
    backlog = pool.ticks(n, start_ms)
    paced: dict[float, list[tuple[bytes, bytes]]] = {}
    at, seq = start_ms + n, n
    for rate in offered:
        count = max(1, int(rate * duration))
        paced[rate] = pool.ticks(count, at, seq)
        at, seq = at + count, seq + count
    result: dict[str, Any] = {
        "quick": quick,
        "ticks": n,
        "seconds_per_rate": duration,
        "assets": ASSETS,
        "venues": 3,
        "probes": PROBES,
        "latency_linger_ms": linger_ms,
        "partitions": by_name(MD_BOOK).partitions,
        **_environment(),
    }
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    source, target = prefix + MD_BOOK, prefix + MD_FUNDING
    created = create_prefixed_topics(bootstrap, prefix, (MD_BOOK, MD_FUNDING))
    try:
        baselines: dict[str, Any] = {"loadavg_1m": _loadavg()}
        baselines["produce_msgs_per_s"] = round(_produce_all(bootstrap, source, backlog))
        baselines["consume_msgs_per_s"] = round(_consume_all(bootstrap, source, n))
        baselines["relay_msgs_per_s"] = round(_relay_throughput(bootstrap, source, target, n))
        result["baselines"] = baselines
        relay_latency, hop_latency = {}, {}
        for rate, ticks_at in paced.items():
            plan = {"mode": "key", "rate": rate, "book_topic": source, "linger_ms": linger_ms}
            figure = _open_loop(bootstrap, plan, ticks_at, (source, "key", None), 3.0)
            figure.pop("flips")
            hop_latency[str(int(rate))] = figure
            plan = {"mode": "key", "rate": rate, "book_topic": source, "linger_ms": linger_ms}
            relay = (source, target, linger_ms)
            figure = _open_loop(bootstrap, plan, ticks_at, (target, "key", None), 3.0, relay)
            figure.pop("flips")
            relay_latency[str(int(rate))] = figure
        result["hop_latency_ms"] = hop_latency
        result["relay_latency_ms"] = relay_latency
    finally:
        delete_topics(bootstrap, created)
    for name in variants:
        result[name] = _variant(name, bootstrap, registry_url, codec, backlog, paced, linger_ms)
    relay = result["baselines"]["relay_msgs_per_s"]
    faust = result.get("faust", {}).get("ticks_per_s")
    plain = result.get("plain", {}).get("ticks_per_s")
    result["ratios"] = {
        "faust_to_relay": _ratio(faust, relay),
        "plain_to_relay": _ratio(plain, relay),
        "faust_to_plain": _ratio(faust, plain),
    }
    result["targets"] = TARGETS
    if verbose:
        print(result)
    return result
