"""The benchmark's moving parts, each in its own process (no shared GIL with the harness).

- :func:`generator_main`: the open-loop load generator. Message ``i`` is *scheduled* at
  ``began + i / rate`` and timed from that instant (a late send still counts its lateness: no
  coordinated omission); it never spins (sleeps to the next slot, sends what is due);
- :func:`probe_main`: the probe consumer; it records the receipt time of every probe id
  (the relay's message key, or an opportunity's ``causation_id``);
- :func:`relay_main`: the latency-profile confluent-kafka relay A -> B (baseline);
- :func:`plain_main`: the same topology as the Faust worker (sequencer thread + market reducer
  + table and output records) on a plain confluent-kafka consumer loop.

Times are ``time.monotonic()`` (``CLOCK_MONOTONIC``: one clock for every process of the box).
Processes are started with the ``spawn`` context; results come back over queues.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import uuid
from typing import Any

from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import ARB_SPREAD

COMMON = {"socket.nagle.disable": True, "acks": "all", "compression.type": "none"}
PRODUCER = {**COMMON, "linger.ms": 5, "batch.num.messages": 10_000, "batch.size": 1_048_576}
"""Throughput profile (backlogs, the relay's throughput run, the plain worker's outputs)."""
LATENCY_PRODUCER = {**COMMON, "linger.ms": 0}
"""Latency profile (the open-loop load generator, the relay's latency run)."""
CONSUMER = {"socket.nagle.disable": True, "fetch.wait.max.ms": 10, "enable.auto.commit": False}

CTX = mp.get_context("spawn")


def consumer(bootstrap: str, topics: list[str], reset: str, **extra: Any) -> Any:
    from confluent_kafka import Consumer

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": reset,
            **CONSUMER,
            **extra,
        }
    )
    c.subscribe(topics)
    return c


def wait_assigned(c: Any, timeout_s: float = 20.0) -> None:
    """Poll until the group assigned partitions (a ``latest`` consumer is then positioned)."""
    deadline = time.monotonic() + timeout_s
    while not c.assignment() and time.monotonic() < deadline:
        c.poll(0.1)


def drain(c: Any, wait_s: float) -> list[Any]:
    """Block for the first message only, then take what is already there (<= 1000)."""
    first = c.poll(wait_s)
    if first is None:
        return []
    return [first, *c.consume(999, 0)]


# ---- load generator -------------------------------------------------------------------------


def generator_main(
    bootstrap: str,
    plan: dict[str, Any],
    ticks: list[tuple[bytes, bytes]],
    out: Any,
) -> None:
    """Send ``ticks`` at ``plan['rate']``/s, open loop; put ``{sent, behind_ms_max}`` on ``out``.

    ``plan['mode']``: ``"key"`` (relay: every message is a probe, keyed by its index) or
    ``"flip"`` (pipeline: every ``probe_every``-th slot carries a funding flip on one of the
    probe symbols instead of a book, with fresh unchanged books of its legs first)."""
    from confluent_kafka import Producer

    linger = {"linger.ms": plan.get("linger_ms", 0)}
    producer = Producer({"bootstrap.servers": bootstrap, **LATENCY_PRODUCER, **linger})
    rate = float(plan["rate"])
    book_topic = plan["book_topic"]
    flips_mode = plan["mode"] == "flip"
    make_flip: Any = _flip_maker(plan) if flips_mode else None
    probe_every = int(plan.get("probe_every", 1))
    sent: dict[Any, float] = {}
    interval = 1.0 / rate
    behind_max = 0.0
    began = time.monotonic() + 0.2
    for i, (key, value) in enumerate(ticks):
        at = began + i * interval
        now = time.monotonic()
        if at > now:
            time.sleep(at - now)
        else:
            behind_max = max(behind_max, now - at)
        if not flips_mode:
            key = i.to_bytes(4, "big")
            sent[key] = at
            producer.produce(book_topic, value, key)
        elif i % probe_every == 0:
            event_id, messages = make_flip()
            for topic, k, v in messages:
                producer.produce(topic, v, k)
            sent[event_id] = at
        else:
            producer.produce(book_topic, value, key)
        producer.poll(0)
    producer.flush(30)
    flips = make_flip.state["flips"] if flips_mode else None
    out.put({"sent": sent, "behind_ms_max": round(behind_max * 1000, 2), "flips": flips})


def _flip_maker(plan: dict[str, Any]) -> Any:
    """A closure producing the next probe flip: (event id, [(topic, key, value)])."""
    from benchmarks import synthetic as syn
    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry
    from schemas.topics import MD_BOOK
    from schemas.topics import MD_FUNDING
    from schemas.topics import key_for

    codec = Codec(ConfluentRegistry(plan["registry_url"]))
    symbols: list[str] = plan["symbols"]
    book_topic, funding_topic = plan["book_topic"], plan["funding_topic"]
    state = {"flips": int(plan.get("flips0", 0)), "seq": int(plan.get("seq0", 1_000_000))}

    def flip() -> tuple[str, list[tuple[str, bytes, bytes]]]:
        flips = state["flips"]
        symbol = symbols[flips % len(symbols)]
        t_ms = int(time.time() * 1000)
        messages = []
        for venue in ("ex-a", "ex-b"):  # unchanged top of book, newer time: fresh legs
            state["seq"] += 1
            record = syn.book(venue, symbol, "100", t_ms - 1, state["seq"])
            messages.append((book_topic, key_for(record), codec.encode(record, MD_BOOK)))
        rate_text = "0.002" if flips // len(symbols) % 2 == 0 else "0.0001"
        funding = syn.funding("ex-b", symbol, rate_text, t_ms, flips + 2)
        value = codec.encode(funding, MD_FUNDING)
        messages.append((funding_topic, key_for(funding), value))
        state["flips"] = flips + 1
        return funding.envelope.event_id, messages

    flip.state = state  # type: ignore[attr-defined]
    return flip


# ---- probe consumer -------------------------------------------------------------------------


def probe_main(
    bootstrap: str,
    topic: str,
    mode: str,
    registry_url: str | None,
    ready: Any,
    stop: Any,
    received: Any,
    out: Any,
) -> None:
    """Record the first receipt time of each probe id until ``stop``; put them on ``out``."""
    decode: Any = None
    if mode == "causation":
        from schemas.codec import Codec
        from schemas.records.arb import Opportunity
        from schemas.registry import ConfluentRegistry

        assert registry_url is not None
        codec = Codec(ConfluentRegistry(registry_url))

        def decode(value: bytes) -> str | None:
            record = codec.decode(value)
            return record.envelope.causation_id if isinstance(record, Opportunity) else None

    c = consumer(bootstrap, [topic], "latest")
    wait_assigned(c)
    ready.set()
    seen: dict[Any, float] = {}
    while not stop.is_set():
        for message in drain(c, 0.05):
            now = time.monotonic()
            if message.error() is not None:
                continue
            probe_id = message.key() if decode is None else decode(message.value() or b"")
            if probe_id is not None and probe_id not in seen:
                seen[probe_id] = now
        received.value = len(seen)
    c.close()
    out.put(seen)


# ---- relay ----------------------------------------------------------------------------------


def relay_main(
    bootstrap: str, source: str, target: str, linger_ms: float, ready: Any, stop: Any
) -> None:
    """The latency-profile relay: block for the first message, relay what is there."""
    from confluent_kafka import Producer

    c = consumer(bootstrap, [source], "latest")
    linger = {"linger.ms": linger_ms}
    producer = Producer({"bootstrap.servers": bootstrap, **LATENCY_PRODUCER, **linger})
    wait_assigned(c)
    ready.set()
    while not stop.is_set():
        for message in drain(c, 0.05):
            if message.error() is None:
                producer.produce(target, message.value(), message.key())
        producer.poll(0)
    producer.flush(10)
    c.close()


# ---- plain confluent-kafka worker -----------------------------------------------------------


def plain_main(settings_json: str, ready: Any, stop: Any, applied: Any) -> None:
    """Sequencer thread + a plain consumer loop over ``md-sequenced``: per batch, apply it
    (:func:`streams.batches.apply_market_batch`, as the Faust agent), produce the table
    changelog records (one state record per changed asset, the cut), spreads and
    opportunities, flush (acks) and commit the batch. ``applied`` counts the ticks of the
    applied batches (the Faust figure's measure)."""
    from confluent_kafka import Producer

    from processors.market_state import MarketReducer
    from schemas.codec import Codec
    from schemas.records.stream import SequencedBatch
    from schemas.registry import ConfluentRegistry
    from streams.batches import apply_market_batch
    from streams.config import StreamsSettings
    from streams.internal_topics import TABLES
    from streams.internal_topics import changelog_name
    from streams.sequencer import start_sequencer
    from streams.wiring import cut_key
    from streams.wiring import encode_asset

    settings = StreamsSettings.model_validate_json(settings_json)
    codec = Codec(ConfluentRegistry(settings.registry_url))
    reducer = MarketReducer(settings.market)
    assets_topic = changelog_name(settings, TABLES["assets"])
    spreads, opportunities = settings.topic(ARB_SPREAD), settings.topic(ARB_OPPORTUNITY)
    c = consumer(
        settings.bootstrap,
        [settings.md_sequenced],
        "earliest",
        **{"group.id": f"{settings.app_id}-plain", "fetch.wait.max.ms": 5},
    )
    producer = Producer({"bootstrap.servers": settings.bootstrap, **PRODUCER, "linger.ms": 1})
    thread, sequencer_stop = start_sequencer(settings, codec)
    wait_assigned(c)
    ready.set()
    done = 0
    while not stop.is_set():
        for m in drain(c, 0.05):
            if m.error() is not None:
                continue
            p = m.partition()
            batch = codec.decode_as(m.value() or b"", SequencedBatch)
            outcome = apply_market_batch(reducer, codec, batch, m.offset() or 0)
            produce = producer.produce
            for asset in outcome.touched:
                value = encode_asset(codec, reducer.asset(asset))
                produce(assets_topic, value, asset.encode(), partition=p)
            produce(assets_topic, str(m.offset() + 1).encode(), cut_key(p), partition=p)
            for asset, spread in outcome.spreads.values():
                produce(spreads, codec.encode(spread, ARB_SPREAD), asset.encode(), partition=p)
            for asset, opportunity in outcome.opportunities:
                value = codec.encode(opportunity, ARB_OPPORTUNITY)
                produce(opportunities, value, asset.encode(), partition=p)
            producer.flush(30)  # at least once: outputs acknowledged before the commit
            c.commit(message=m, asynchronous=True)
            done += len(batch.values)
            applied.value = done
    sequencer_stop.set()
    thread.join(10)
    producer.flush(10)
    c.close()


def start(target: Any, *args: Any) -> Any:
    """A started spawn-context process running ``target(*args)``."""
    process = CTX.Process(target=target, args=args, daemon=True)
    process.start()
    return process
