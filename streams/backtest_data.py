"""Recorded market data for the backtest: incident bundles and directories of Avro files.

Both give :class:`streams.incident_replay.Positioned` market records (``md.instrument``,
``md.book``, ``md.funding``) in apply order:

- **Incident bundle** (a FILE, :mod:`streams.bundle`): validated as ``incident replay`` does;
  the worker's apply order when the bundle has it, else Kafka timestamp order (the same
  :func:`streams.incident_replay.apply_order`).
- **Kafka range**: ``md.book`` / ``md.funding`` between two replay bounds
  (:mod:`streams.replay_range`: times or offsets, planned and read by :mod:`streams.replay`),
  plus every ``md.instrument`` record up to the end bound (the facts in force); decoded with
  the registry, applied in event-time order (ties: facts, books, funding, partition, offset).
- **Directory** (a DIR): one Avro object container file per topic, ``md.instrument.avro``,
  ``md.book.avro``, ``md.funding.avro`` (at least one of book / funding), each holding that
  topic's value records written with their own schema (embedded in the file, so any Avro reader
  opens them; an older schema version is resolved to today's). Records apply in event-time
  order (ties: facts, books, funding, then file order). :func:`write_records_dir` writes one.

:func:`in_window` applies ``--from`` (inclusive) / ``--to`` (exclusive) on event time; the
instrument facts stamped before the window stay in force.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from collections.abc import Sequence
from pathlib import Path

import fastavro

from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.errors import FundingflowError
from schemas.errors import InvalidEvent
from schemas.subjects import subject_schema
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from schemas.topics import by_name
from streams.bundle import BundleError
from streams.bundle import read_bundle
from streams.bundle import to_record
from streams.incident_replay import MARKET_TOPICS
from streams.incident_replay import Positioned
from streams.incident_replay import apply_order
from streams.incident_replay import bundle_inputs
from streams.replay_range import Bound

RANK = {MD_INSTRUMENT: 0, MD_BOOK: 1, MD_FUNDING: 2}


class BacktestDataError(FundingflowError):
    """Market data that cannot be read: missing, corrupt, empty or not market data."""


def load_bundle(path: Path) -> list[Positioned]:
    try:
        bundle, _ = read_bundle(path)
    except BundleError as e:
        raise BacktestDataError(f"{path}: {e}") from None
    topics = [t for t in MARKET_TOPICS if t in bundle.topics]
    items = bundle_inputs(bundle, topics)
    if not any(p.topic in (MD_BOOK, MD_FUNDING) for p in items):
        raise BacktestDataError(f"{path}: the bundle holds no md.book or md.funding message")
    return apply_order(items, bundle.order.get("market", ()))


def _read_container(path: Path, topic: str) -> list[Positioned]:
    try:
        with path.open("rb") as f:
            reader = fastavro.reader(f)
            writer = reader.metadata.get("avro.schema")
            if writer is None:
                raise BacktestDataError(f"{path}: no writer schema in the container")
            writer_json = json.dumps(json.loads(writer), sort_keys=False)
            out = []
            for i, datum in enumerate(reader):
                record = to_record(topic, writer_json, datum)
                t = record.envelope.event_time_ms  # type: ignore[attr-defined]
                out.append(Positioned(topic, 0, i, t, record))
            return out
    except BacktestDataError:
        raise
    except Exception as e:  # fastavro raises many kinds on a corrupt or truncated file
        raise BacktestDataError(f"{path}: not a readable Avro container ({e})") from None


def load_dir(path: Path) -> list[Positioned]:
    if not path.is_dir():
        raise BacktestDataError(f"{path}: not a directory")
    items: list[Positioned] = []
    found = []
    for topic in (MD_INSTRUMENT, MD_BOOK, MD_FUNDING):
        file = path / f"{topic}.avro"
        if file.exists():
            found.append(topic)
            items.extend(_read_container(file, topic))
    if MD_BOOK not in found and MD_FUNDING not in found:
        raise BacktestDataError(f"{path}: holds neither md.book.avro nor md.funding.avro")
    if not any(p.topic in (MD_BOOK, MD_FUNDING) for p in items):
        raise BacktestDataError(f"{path}: no market record in md.book.avro / md.funding.avro")
    items.sort(key=lambda p: (p.timestamp_ms, RANK[p.topic], p.offset))
    return items


def load_path(path: Path) -> list[Positioned]:
    """A directory of Avro files or an incident bundle file."""
    if path.is_dir():
        return load_dir(path)
    if not path.exists():
        raise BacktestDataError(f"{path}: no such file or directory")
    return load_bundle(path)


WHOLE_LOG = Bound("partitions")
"""A bound naming no partition: the start of every log for ``--from``, its end for ``--to``."""


def load_kafka(
    bootstrap: str, codec: Codec, start: Bound, end: Bound, source_prefix: str = ""
) -> list[Positioned]:
    """The recorded market data of ``source_prefix + md.*`` in ``[start, end)``."""
    from streams.replay import ReplayPlan
    from streams.replay import plan_range
    from streams.replay import read_range

    plan = plan_range(
        bootstrap, [MD_BOOK, MD_FUNDING], start, end, explicit=False, source_prefix=source_prefix
    )
    if not plan.parts:
        raise BacktestDataError(f"no {source_prefix}md.book nor {source_prefix}md.funding topic")
    facts = plan_range(
        bootstrap, [MD_INSTRUMENT], WHOLE_LOG, end, explicit=False, source_prefix=source_prefix
    )
    items: list[Positioned] = []
    for m in read_range(bootstrap, ReplayPlan(facts.parts + plan.parts)):
        topic = str(m.topic()).removeprefix(source_prefix)
        try:
            record = codec.decode_for_topic(m.value() or b"", topic)
        except InvalidEvent:
            continue  # what the sinks and the agents refuse too: not market data
        t = record.envelope.event_time_ms  # type: ignore[attr-defined]
        items.append(Positioned(topic, m.partition(), m.offset(), t, record))
    items.sort(key=lambda p: (p.timestamp_ms, RANK[p.topic], p.partition, p.offset))
    if not any(p.topic != MD_INSTRUMENT for p in items):
        raise BacktestDataError(f"no {source_prefix}md.book / md.funding message in the range")
    return items


def write_records_dir(path: Path, records: Iterable[AvroRecord]) -> dict[str, int]:
    """Write market records into ``path`` (created; existing files of the format replaced)
    as one Avro container per topic; returns the count per topic."""
    by_topic: dict[str, list[AvroRecord]] = {}
    for record in records:
        topic = _topic_of(record)
        by_topic.setdefault(topic, []).append(record)
    path.mkdir(parents=True, exist_ok=True)
    for topic, rows in by_topic.items():
        schema = fastavro.parse_schema(subject_schema(by_name(topic)))
        tmp = path / f".{topic}.avro.tmp"
        with tmp.open("wb") as f:
            fastavro.writer(f, schema, (r.to_avro() for r in rows), codec="deflate")
        os.replace(tmp, path / f"{topic}.avro")
    return {t: len(v) for t, v in sorted(by_topic.items())}


def _topic_of(record: AvroRecord) -> str:
    for topic in (MD_INSTRUMENT, MD_BOOK, MD_FUNDING):
        if type(record) in by_name(topic).value_records:
            return topic
    raise BacktestDataError(f"{type(record).__name__} is not market data")


def in_window(
    items: Sequence[Positioned], start_ms: int | None, end_ms: int | None
) -> list[Positioned]:
    """The items with event time in ``[start_ms, end_ms)``, plus the facts stamped before."""
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise BacktestDataError(f"empty or inverted time range [{start_ms}, {end_ms})")
    out = []
    for p in items:
        t = p.record.envelope.event_time_ms  # type: ignore[attr-defined]
        if end_ms is not None and t >= end_ms:
            continue
        if start_ms is not None and t < start_ms and p.topic != MD_INSTRUMENT:
            continue
        out.append(p)
    return out
