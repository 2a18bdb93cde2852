"""State digest: a stable hash of all table state, live or replayed offline.

``sha256`` over canonical JSON (sorted keys, no whitespace, Decimals as normalized strings,
bytes as hex, sets sorted) of the market state of every asset (latest records, open
opportunities, last evaluation time) and of the risk state (control, clock, exposures,
decisions). Derived caches are left out.

- :func:`digest_at_cut` replays the sequenced topics up to an offset cut through the same
  reducers, offline (confluent-kafka consumer, no Faust): the reference a worker is compared to.
- :func:`worker_digest` computes the digest of a live worker's tables; the worker writes it,
  with the cut it corresponds to, to ``settings.digest_path`` periodically and on shutdown.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
from collections import deque
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from processors.market_state import AssetState
from processors.market_state import MarketReducer
from processors.risk_state import RiskBook
from processors.risk_state import RiskReducer
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from processors.units import InstrumentKey
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import InvalidEvent
from schemas.records.state import RiskState
from schemas.records.stream import SequencedBatch
from schemas.registry import ConfluentRegistry
from streams.batches import apply_market_batch
from streams.batches import apply_risk_batch
from streams.config import StreamsSettings

Cut = dict[str, dict[int, int]]
"""Per topic, per partition: the next offset *not* included (every offset below it is)."""


def canonical(value: Any) -> Any:
    """A JSON-ready form of ``value`` that does not depend on hash seeds or insertion order."""
    if isinstance(value, AvroRecord):
        return canonical(value.to_avro())
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, enum.Enum):
        return canonical(value.value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, InstrumentKey):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {_key(k): canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((canonical(v) for v in value), key=_dumps)
    if isinstance(value, list | tuple | deque):
        return [canonical(v) for v in value]
    raise TypeError(f"no canonical form for {type(value).__name__}")


def _key(key: Any) -> str:
    form = canonical(key)
    return form if isinstance(form, str) else _dumps(form)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _asset_form(state: AssetState) -> dict[str, Any]:
    return {
        "records": canonical(state.records),
        "open": canonical(state.book),
        "last_eval_ms": state.last_eval_ms,
    }


def state_form(assets: Mapping[str, AssetState], risk: RiskBook) -> dict[str, Any]:
    """The canonical document the digest hashes (useful to diff two states)."""
    market = {a: _asset_form(s) for a, s in assets.items() if s.records or s.book.open}
    return {"market": market, "risk": canonical(risk)}


def state_digest(assets: Mapping[str, AssetState], risk: RiskBook) -> str:
    return hashlib.sha256(_dumps(state_form(assets, risk)).encode()).hexdigest()


# ---- offline replay ---------------------------------------------------------------------------


def replay(
    values: Iterable[tuple[str, int, bytes]], codec: Codec, settings: StreamsSettings
) -> tuple[MarketReducer, RiskReducer]:
    """Apply (sequenced topic, offset, batch) values in order through the agents' own error boundary
    (:mod:`streams.batches`): what they refuse, this refuses (no state change)."""
    market = MarketReducer(settings.market)
    risk = RiskReducer(settings.risk)
    for topic, offset, raw in values:
        try:
            batch = codec.decode_as(raw, SequencedBatch)
        except InvalidEvent:
            continue
        if topic == settings.md_sequenced:
            apply_market_batch(market, codec, batch, offset)
        else:
            apply_risk_batch(risk, codec, batch)
    return market, risk


def read_cut(bootstrap: str, cut: Cut, timeout_s: float = 30.0) -> list[tuple[str, int, bytes]]:
    """Every (topic, offset, value) below the cut, partition by partition in offset order."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "fundingflow-digest",
            "enable.auto.commit": False,
            "socket.nagle.disable": True,
        }
    )
    out: list[tuple[str, int, bytes]] = []
    try:
        for topic in sorted(cut):
            for partition in sorted(cut[topic]):
                end = cut[topic][partition]
                if end <= 0:
                    continue
                tp = TopicPartition(topic, partition, 0)
                out.extend(
                    (topic, m.offset(), m.value() or b"")
                    for m in _read_partition(consumer, tp, end, timeout_s)
                )
    finally:
        consumer.close()
    return out


def read_range(
    bootstrap: str, topic: str, partition: int, start: int, end: int, timeout_s: float = 30.0
) -> list[Any]:
    """The messages (confluent-kafka's) of ``topic[partition]`` from ``start`` below ``end``;
    from the log's start instead when retention deleted the records from ``start`` on."""
    from confluent_kafka import Consumer
    from confluent_kafka import TopicPartition

    if end <= start:
        return []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "fundingflow-digest",
            "enable.auto.commit": False,
            "auto.offset.reset": "error",
            "socket.nagle.disable": True,
        }
    )
    try:
        low, _high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout_s
        )
        tp = TopicPartition(topic, partition, max(start, low))
        return _read_partition(consumer, tp, end, timeout_s)
    finally:
        consumer.close()


def _read_partition(consumer: Any, tp: Any, end: int, timeout_s: float = 30.0) -> list[Any]:
    import time

    consumer.assign([tp])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    position = tp.offset
    while position < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tp.topic}[{tp.partition}]: read to {position} of {end}")
        for message in consumer.consume(1000, 0.5):
            if message.error() is not None:
                continue
            offset = message.offset()
            if offset >= end:
                position = end
                break
            messages.append(message)
            position = offset + 1
    return messages


def form_at_cut(
    bootstrap: str, registry_url: str, cut: Cut, settings: StreamsSettings
) -> dict[str, Any]:
    """The canonical state the reducers build from the sequenced topics below ``cut``."""
    codec = Codec(ConfluentRegistry(registry_url))
    market, risk = replay(read_cut(bootstrap, cut), codec, settings)
    return state_form(market.assets, risk.state)


def digest_at_cut(
    bootstrap: str, registry_url: str, cut: Cut, settings: StreamsSettings | None = None
) -> str:
    """Digest of the state the reducers build from the sequenced topics below ``cut``."""
    settings = settings or StreamsSettings(bootstrap=bootstrap, registry_url=registry_url)
    codec = Codec(ConfluentRegistry(registry_url))
    market, risk = replay(read_cut(bootstrap, cut), codec, settings)
    return state_digest(market.assets, risk.state)


# ---- live worker ------------------------------------------------------------------------------


def worker_digest(wiring: Any) -> dict[str, Any]:
    """The digest of a worker's tables and the cut it corresponds to."""
    assets = {a: wiring.load_asset(a) or AssetState() for a in wiring.assets_in_tables()}
    stored = wiring.risk_table.get(b"risk")
    risk = (
        RiskBook.from_record(wiring.codec.decode_as(stored, RiskState))
        if stored is not None
        else RiskBook(wiring.settings.risk.control_state())
    )
    document = {
        "app_id": wiring.settings.app_id,
        "digest": state_digest(assets, risk),
        # What the reducers computed with, so an offline replay computes the same.
        "market": wiring.settings.market.model_dump(mode="json"),
        "risk": wiring.settings.risk.model_dump(mode="json"),
        "cut": {t: dict(sorted(p.items())) for t, p in sorted(wiring.positions.items())},
        "assets": len(assets),
    }
    if wiring.settings.digest_detail:
        document["form"] = state_form(assets, risk)
    return document


def replay_settings(settings: StreamsSettings, document: Mapping[str, Any]) -> StreamsSettings:
    """``settings`` with the market and risk settings a worker's digest recorded (the replay
    must compute with what the worker computed with, e.g. a run's stale-quote override)."""
    update: dict[str, Any] = {}
    if "market" in document:
        update["market"] = MarketSettings.model_validate(document["market"])
    if "risk" in document:
        update["risk"] = RiskSettings.model_validate(document["risk"])
    return settings.model_copy(update=update)


def write_digest(path: Path, document: Mapping[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, sort_keys=True, indent=1))
    os.replace(tmp, path)


def read_digest(path: Path) -> dict[str, Any] | None:
    """A worker's last digest file, with the cut's partitions as ints; None if absent."""
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    document["cut"] = {
        t: {int(p): int(o) for p, o in parts.items()} for t, parts in document["cut"].items()
    }
    return document
