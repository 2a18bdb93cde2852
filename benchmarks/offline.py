"""Offline benchmarks, in process and without Kafka: replay events/s and RSS growth.

- **replay**: ``N`` encoded market events (books and funding of
  :class:`~benchmarks.pools.MarketPool`, encoded with an in-memory registry's codec) packed
  into :class:`~schemas.records.stream.SequencedBatch` records of 1000
  (:class:`~streams.sequencer.BatchBuilder`) and encoded as the sequencer does; timed:
  :func:`streams.digest.replay` over them (batch decode, per-message decode, reducers);
- **rss**: ``events`` (10M; quick 1M) market events applied through
  :func:`streams.batches.apply_market_batch` in batches of 1000, generated chunk by chunk from
  the same pool of encoded templates with increasing times and sequences (state stays bounded,
  as in a live stream); RSS (``VmRSS``) after a warm-up (the first tenth) against the end,
  with checkpoints in between.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

from benchmarks.pools import MarketPool
from processors.market_state import MarketReducer
from schemas.codec import Codec
from schemas.registry import InMemoryRegistry
from schemas.topics import STREAM_BATCH
from streams.batches import apply_market_batch
from streams.config import StreamsSettings
from streams.digest import replay
from streams.sequencer import BatchBuilder

BATCH = 1_000
ASSETS = 20
EVENTS_PER_MS = 10
"""Event-time density: 10 events per millisecond (10k events/s of event time over 20 assets,
as the pipeline benchmark's ticks). The reducer evaluates an asset at most every 250 ms of
event time, so this sets the evaluations per event (here about one per 2500 events of an asset)."""
T0 = 1_767_225_600_000


def rss_mb() -> float | None:
    """Resident set size of this process (``/proc/self/status`` VmRSS), MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _batches(pool: MarketPool, start: int, n: int, per_ms: int = EVENTS_PER_MS) -> list[Any]:
    """Events ``start .. start + n`` as SequencedBatch records of ``BATCH``."""
    out = []
    builder = BatchBuilder()
    for i in range(start, start + n):
        t_ms = T0 + i // per_ms
        topic, key, value = pool.event(i, t_ms)
        builder.add(topic, 0, i, t_ms, key, value)
        if len(builder) >= BATCH:
            out.append(builder.build())
            builder = BatchBuilder()
    if len(builder):
        out.append(builder.build())
    return out


def _loadavg() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def bench_replay(events: int, events_per_ms: int = EVENTS_PER_MS) -> dict[str, Any]:
    """events/s of :func:`streams.digest.replay` over ``events`` pre-encoded events."""
    codec = Codec(InMemoryRegistry())
    settings = StreamsSettings()
    pool = MarketPool(codec, ASSETS)
    _batches(pool, 0, 10 * ASSETS * 3 * 4)  # templates built (and registered) before timing
    values = [
        (settings.md_sequenced, offset, codec.encode(b, STREAM_BATCH))
        for offset, b in enumerate(_batches(pool, 0, events, events_per_ms))
    ]
    load = _loadavg()
    started, cpu_started = time.perf_counter(), time.process_time()
    market, _risk = replay(values, codec, settings)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    opened = sum(len(s.book.open) for s in market.assets.values())
    return {
        "events": events,
        "batches": len(values),
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed) if elapsed > 0 else None,
        # this process's CPU time: on a shared box, less bent by other runs than wall time
        "cpu_seconds": round(cpu, 3),
        "events_per_cpu_s": round(events / cpu) if cpu > 0 else None,
        "assets": len(market.assets),
        "open_opportunities_at_end": opened,
        "loadavg_1m": [load, _loadavg()],
    }


def bench_rss(
    events: int, chunk: int = 100_000, events_per_ms: int = EVENTS_PER_MS
) -> dict[str, Any]:
    """RSS after a warm-up (the first tenth of ``events``) against the end."""
    codec = Codec(InMemoryRegistry())
    settings = StreamsSettings()
    pool = MarketPool(codec, ASSETS)
    reducer = MarketReducer(settings.market)
    warm_at = max(chunk, events // 10)
    start_mb = rss_mb()
    load = _loadavg()
    warm_mb: float | None = None
    checkpoints: list[tuple[int, float | None]] = []
    applied = opportunities = evaluations = batches = 0
    began = time.perf_counter()
    warm_t = began
    done = 0
    while done < events:
        n = min(chunk, events - done)
        for batch in _batches(pool, done, n, events_per_ms):
            outcome = apply_market_batch(reducer, codec, batch, batches)
            batches += 1
            applied += outcome.applied
            evaluations += len(outcome.touched)
            opportunities += len(outcome.opportunities)
        done += n
        if done >= warm_at and warm_mb is None:
            gc.collect()
            warm_mb, warm_t = rss_mb(), time.perf_counter()
        if done % max(chunk, events // 10) == 0 or done == events:
            checkpoints.append((done, rss_mb()))
    elapsed = time.perf_counter() - began
    gc.collect()
    end_mb = rss_mb()
    return {
        "events": events,
        "applied": applied,
        "evaluations": evaluations,
        "opportunities": opportunities,
        "start_mb": start_mb,
        "warm_at_events": warm_at,
        "warm_mb": warm_mb,
        "end_mb": end_mb,
        "growth_mb": round(end_mb - warm_mb, 1) if end_mb and warm_mb else None,
        "checkpoints_mb": checkpoints,
        "seconds": round(elapsed, 1),
        "events_per_s": round(events / elapsed) if elapsed > 0 else None,
        "events_per_s_after_warmup": (
            round((events - warm_at) / (time.perf_counter() - warm_t)) if events > warm_at else None
        ),
        "loadavg_1m": [load, _loadavg()],
    }


def run_offline_bench(
    quick: bool = True,
    *,
    replay_events: int | None = None,
    rss_events: int | None = None,
    events_per_ms: int = EVENTS_PER_MS,
    verbose: bool = True,
) -> dict[str, Any]:
    """Replay events/s (default 200k events; quick 100k) and RSS growth (default 10M events;
    quick 1M): figures printed and returned, never asserted.

    The RSS figure includes generating the events (re-stamping encoded templates, about
    10 us an event); ``events_per_s`` there is the apply rate with that generation."""
    replay_n = replay_events or (100_000 if quick else 200_000)
    rss_n = rss_events or (1_000_000 if quick else 10_000_000)
    result: dict[str, Any] = {
        "quick": quick,
        "batch": BATCH,
        "assets": ASSETS,
        "venues": 3,
        "events_per_ms": events_per_ms,
        "loadavg_1m": _loadavg(),
        "replay": bench_replay(replay_n, events_per_ms),
        "rss": bench_rss(rss_n, min(100_000, max(BATCH, rss_n // 10)), events_per_ms),
    }
    if verbose:
        print(result)
    return result
