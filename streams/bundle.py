"""The incident bundle: one portable tar of Avro object container files and a manifest.

Layout (an uncompressed ustar archive, members in this order):

- ``manifest.json``: ``version``, ``created_ms``, the ``window`` (``start_ms``, ``end_ms``,
  half-open), the ``topics`` asked for, per topic the ``counts`` of messages, and ``members``:
  per container file its path, topic, writer schema id, message count and sha256.
- ``manifest.sha256``: the sha256 of ``manifest.json`` (hex), so the manifest is checked too.
- ``topics/<topic>.avro`` (``topics/<topic>.<n>.avro`` for a further writer schema of the same
  topic): an Avro object container file whose records are :func:`message_schema` wrappers:
  the message's Kafka ``partition``, ``offset``, ``timestamp_ms``, ``key`` and writer
  ``schema_id``, and the ``value`` written with the schema it was written with (the registry's
  schema of that id, embedded in the container's header);
- ``order.json`` (when known): the bundled messages' positions in the order the worker applied
  them (``market``, ``risk``), checksummed in the manifest.

Reading checks everything a flipped byte can touch: each tar header must be exactly the one
this writer makes of its fields, each member's bytes match their sha256 in the manifest, and
every padding byte must be zero, and the archive must end exactly where the writer ends it; a
member must parse as a container whose values resolve to today's schema of their topic.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import fastavro

from schemas.avro_record import AvroRecord
from schemas.errors import FundingflowError
from schemas.records import RECORDS_BY_AVRO_NAME
from schemas.subjects import subject_schema
from schemas.topics import by_name

VERSION = 1
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
BLOCK = 512


class BundleError(FundingflowError):
    """A bundle that cannot be written or read: corrupt, truncated, or not one of ours."""


def message_schema(value_schema: Any) -> dict[str, Any]:
    """The container schema of one topic: the Kafka position beside the value as written."""
    return {
        "type": "record",
        "name": "BundledMessage",
        "namespace": "fundingflow.incident",
        "doc": "One Kafka message of an incident bundle.",
        "fields": [
            {"name": "partition", "type": "int"},
            {"name": "offset", "type": "long"},
            {"name": "timestamp_ms", "type": "long"},
            {"name": "key", "type": ["null", "bytes"]},
            {"name": "schema_id", "type": "int"},
            {"name": "value", "type": value_schema},
        ],
    }


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message of a bundle, its value decoded as a raw Avro datum of its writer schema
    (a ``(record name, fields)`` pair when the topic's schema is a union)."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    schema_id: int
    value: Any


Position = tuple[str, int, int]
"""(catalogue topic, partition, offset) of one message."""

ORDER = "order.json"


@dataclass(frozen=True, slots=True)
class Window:
    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise BundleError(f"empty or inverted window [{self.start_ms}, {self.end_ms})")

    def contains(self, timestamp_ms: int) -> bool:
        return self.start_ms <= timestamp_ms < self.end_ms


@dataclass(slots=True)
class Bundle:
    """What a bundle holds, in memory: the window, the topics and every message."""

    window: Window
    topics: tuple[str, ...]
    created_ms: int
    messages: dict[str, list[Message]] = field(default_factory=dict)
    writer_schemas: dict[int, str] = field(default_factory=dict)
    """Writer schema (JSON text) of each schema id the messages use."""
    notes: dict[str, Any] = field(default_factory=dict)
    order: dict[str, list[Position]] = field(default_factory=dict)
    """The order the worker applied messages in (``market``, ``risk``): (topic, partition,
    offset) of bundled messages as its sequenced topics list them; empty when not known."""
    """Free-form facts the exporter records in the manifest (namespace, in-force counts)."""

    def records(self, topic: str) -> Iterator[tuple[Message, AvroRecord]]:
        """The messages of ``topic`` in bundle order with their values as today's records."""
        for message in self.messages.get(topic, ()):
            yield message, self.record_of(message)

    def record_of(self, message: Message) -> AvroRecord:
        return to_record(message.topic, self.writer_schemas[message.schema_id], message.value)

    def counts(self) -> dict[str, int]:
        return {t: len(self.messages.get(t, ())) for t in self.topics}


@functools.lru_cache(maxsize=256)
def _resolution(topic: str, writer_json: str) -> tuple[Any, Any, bool]:
    """(parsed writer, parsed reader or None when the writer is today's schema, union)."""
    current = subject_schema(by_name(topic))
    writer = json.loads(writer_json)
    parsed_writer = fastavro.parse_schema(writer)
    reader = None if writer == current else fastavro.parse_schema(current)
    return parsed_writer, reader, isinstance(current, list)


def to_record(topic: str, writer_json: str, datum: Any) -> AvroRecord:
    """Today's record of a raw ``datum`` of ``writer_json`` (Avro schema resolution when the
    message was written with an older version)."""
    parsed_writer, reader, union = _resolution(topic, writer_json)
    if reader is not None:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed_writer, datum)
        buffer.seek(0)
        datum = fastavro.schemaless_reader(
            buffer,
            parsed_writer,
            reader,
            return_record_name=union,
            return_record_name_override=union,
        )
    if union:
        name, fields = datum
        return RECORDS_BY_AVRO_NAME[name].from_avro(fields)
    return by_name(topic).value_records[0].from_avro(datum)


def _check_topics(topics: Iterable[str]) -> None:
    for topic in topics:
        try:
            by_name(topic)
        except KeyError as e:
            raise BundleError(str(e.args[0])) from None


# ---- writing ----------------------------------------------------------------------------------


def _container(messages: list[Message], writer_schema: Any) -> bytes:
    schema = fastavro.parse_schema(message_schema(writer_schema))
    out = io.BytesIO()
    rows = (
        {
            "partition": m.partition,
            "offset": m.offset,
            "timestamp_ms": m.timestamp_ms,
            "key": m.key,
            "schema_id": m.schema_id,
            "value": m.value,
        }
        for m in messages
    )
    fastavro.writer(out, schema, rows, codec="deflate", sync_interval=64 * 1024)
    return out.getvalue()


def _members(bundle: Bundle) -> list[tuple[dict[str, Any], bytes]]:
    members: list[tuple[dict[str, Any], bytes]] = []
    for topic in bundle.topics:
        by_schema: dict[int, list[Message]] = {}
        for m in sorted(bundle.messages.get(topic, ()), key=lambda m: (m.partition, m.offset)):
            by_schema.setdefault(m.schema_id, []).append(m)
        for n, (schema_id, messages) in enumerate(sorted(by_schema.items())):
            path = f"topics/{topic}.avro" if n == 0 else f"topics/{topic}.{n + 1}.avro"
            data = _container(messages, json.loads(bundle.writer_schemas[schema_id]))
            entry = {
                "path": path,
                "topic": topic,
                "schema_id": schema_id,
                "count": len(messages),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            members.append((entry, data))
    return members


def _order_bytes(bundle: Bundle) -> bytes:
    order = {k: [list(p) for p in v] for k, v in sorted(bundle.order.items())}
    return json.dumps(order, separators=(",", ":")).encode()


def manifest_of(bundle: Bundle, members: list[dict[str, Any]]) -> dict[str, Any]:
    order = {}
    if bundle.order:
        order = {
            "order": {
                "path": ORDER,
                "sha256": hashlib.sha256(_order_bytes(bundle)).hexdigest(),
                **{k: len(v) for k, v in sorted(bundle.order.items())},
            }
        }
    return {
        "version": VERSION,
        "created_ms": bundle.created_ms,
        "window": {"start_ms": bundle.window.start_ms, "end_ms": bundle.window.end_ms},
        "topics": list(bundle.topics),
        "counts": bundle.counts(),
        "members": members,
        **({"notes": bundle.notes} if bundle.notes else {}),
        **order,
    }


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes, mtime_s: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime_s
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def encode_bundle(bundle: Bundle) -> tuple[bytes, dict[str, Any]]:
    """The bundle's bytes and its manifest."""
    _check_topics(bundle.topics)
    members = _members(bundle)
    manifest = manifest_of(bundle, [entry for entry, _ in members])
    out = io.BytesIO()
    mtime = bundle.created_ms // 1000
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        body = json.dumps(manifest, indent=1, sort_keys=True).encode()
        _tar_member(tar, MANIFEST, body, mtime)
        _tar_member(tar, MANIFEST_SUM, hashlib.sha256(body).hexdigest().encode() + b"\n", mtime)
        for entry, data in members:
            _tar_member(tar, entry["path"], data, mtime)
        if bundle.order:
            _tar_member(tar, ORDER, _order_bytes(bundle), mtime)
    return out.getvalue(), manifest


def write_bundle(bundle: Bundle, path: Path, force: bool = False) -> dict[str, Any]:
    """Write ``bundle`` to ``path`` atomically (a temporary file renamed); refuse an existing
    file unless ``force``. Returns the manifest."""
    if path.exists() and not force:
        raise BundleError(f"{path} exists; pass --force to replace it")
    if path.exists() and path.is_dir():
        raise BundleError(f"{path} is a directory")
    data, manifest = encode_bundle(bundle)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise BundleError(f"no directory {directory}")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o644)  # a file to hand on, not a secret
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if path.exists() and not force:  # appeared meanwhile
            raise BundleError(f"{path} exists; pass --force to replace it")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


# ---- reading ----------------------------------------------------------------------------------


def _zeros(data: bytes, start: int, end: int, what: str) -> None:
    if data[start:end].count(0) != end - start:
        raise BundleError(f"corrupt bundle: non-zero bytes in {what}")


def _read_tar(data: bytes) -> dict[str, bytes]:
    """Every member's bytes; every byte outside headers and data must be zero padding."""
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            end = 0
            for info in tar:
                if not info.isfile():
                    raise BundleError(f"corrupt bundle: member {info.name!r} is not a file")
                header = data[info.offset : info.offset + BLOCK]
                if header != info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape"):
                    raise BundleError(f"corrupt bundle: the header of {info.name!r} is altered")
                if info.name in members:
                    raise BundleError(f"corrupt bundle: member {info.name!r} twice")
                stop = info.offset_data + info.size
                if stop > len(data):
                    raise BundleError(f"truncated bundle: member {info.name!r} is cut short")
                members[info.name] = data[info.offset_data : stop]
                padded = -(-stop // BLOCK) * BLOCK
                _zeros(data, stop, min(padded, len(data)), f"the padding of {info.name!r}")
                end = padded
    except tarfile.TarError as e:
        raise BundleError(f"corrupt or truncated bundle: {e}") from None
    expected = -(-(end + 2 * BLOCK) // tarfile.RECORDSIZE) * tarfile.RECORDSIZE
    if len(data) < expected:
        raise BundleError("truncated bundle: the end of the archive is missing")
    if len(data) > expected:
        raise BundleError(f"corrupt bundle: {len(data) - expected} bytes after the archive")
    _zeros(data, end, len(data), "the end-of-archive marker")
    return members


def _manifest(members: dict[str, bytes]) -> dict[str, Any]:
    raw = members.get(MANIFEST)
    if raw is None:
        raise BundleError(f"not an incident bundle: no {MANIFEST}")
    if members.get(MANIFEST_SUM) != hashlib.sha256(raw).hexdigest().encode() + b"\n":
        raise BundleError(f"corrupt bundle: checksum mismatch in {MANIFEST}")
    try:
        manifest = json.loads(raw)
        if manifest["version"] != VERSION:
            raise BundleError(f"bundle version {manifest['version']!r}; this reads {VERSION}")
        window = Window(int(manifest["window"]["start_ms"]), int(manifest["window"]["end_ms"]))
        topics = [str(t) for t in manifest["topics"]]
        entries = manifest["members"]
        for entry in entries:
            str(entry["path"]), str(entry["topic"]), int(entry["schema_id"])
            int(entry["count"]), str(entry["sha256"])
        int(manifest["created_ms"])
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(f"corrupt bundle: bad manifest ({type(e).__name__}: {e})") from None
    _check_topics(topics)
    manifest["_window"] = window
    return dict(manifest)


def _read_member(entry: dict[str, Any], data: bytes) -> tuple[list[Message], str]:
    topic = entry["topic"]
    union = isinstance(subject_schema(by_name(topic)), list)
    try:
        reader = fastavro.reader(
            io.BytesIO(data), return_record_name=union, return_record_name_override=union
        )
        writer_schema = reader.writer_schema
        if not isinstance(writer_schema, dict) or writer_schema.get("name") != (
            "fundingflow.incident.BundledMessage"
        ):
            raise BundleError(f"{entry['path']}: not a bundled-message container")
        value_schema = next(f["type"] for f in writer_schema["fields"] if f["name"] == "value")
        writer_json = json.dumps(_strip(value_schema), separators=(",", ":"))
        messages = []
        rows: Iterator[Any] = iter(reader)
        for row in rows:
            value = row["value"]
            to_record(topic, writer_json, value)  # today's reader must read it (schema check)
            messages.append(
                Message(
                    topic,
                    row["partition"],
                    row["offset"],
                    row["timestamp_ms"],
                    row["key"],
                    row["schema_id"],
                    value,
                )
            )
    except BundleError:
        raise
    except Exception as e:  # untrusted bytes: any failure is a corrupt member
        detail = f"{type(e).__name__}: {e}"[:300]
        raise BundleError(f"corrupt bundle: {entry['path']} does not read: {detail}") from None
    if len(messages) != entry["count"]:
        raise BundleError(
            f"corrupt bundle: {entry['path']} holds {len(messages)} messages, "
            f"the manifest says {entry['count']}"
        )
    if any(m.schema_id != entry["schema_id"] for m in messages):
        raise BundleError(f"corrupt bundle: {entry['path']} mixes writer schemas")
    return messages, writer_json


def _strip(schema: Any) -> Any:
    """A parsed schema back in plain form (fastavro adds ``__fastavro_parsed`` keys)."""
    if isinstance(schema, dict):
        return {k: _strip(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_strip(v) for v in schema]
    return schema


def decode_bundle(data: bytes) -> tuple[Bundle, dict[str, Any]]:
    """Validate and read a bundle's bytes: manifest, checksums, containers, schemas."""
    members = _read_tar(data)
    manifest = _manifest(members)
    expected = {MANIFEST, MANIFEST_SUM} | {e["path"] for e in manifest["members"]}
    if "order" in manifest:
        expected.add(ORDER)
    if set(members) != expected:
        surplus = sorted(set(members) - expected)
        missing = sorted(expected - set(members))
        raise BundleError(f"corrupt bundle: members missing {missing}, unexpected {surplus}")
    bundle = Bundle(
        manifest["_window"],
        tuple(manifest["topics"]),
        int(manifest["created_ms"]),
        notes=dict(manifest.get("notes", {})),
    )
    for entry in manifest["members"]:
        raw = members[entry["path"]]
        if hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            raise BundleError(f"corrupt bundle: checksum mismatch in {entry['path']}")
        if entry["topic"] not in bundle.topics:
            raise BundleError(f"corrupt bundle: {entry['path']} is of a topic not listed")
        messages, writer = _read_member(entry, raw)
        bundle.messages.setdefault(entry["topic"], []).extend(messages)
        bundle.writer_schemas[entry["schema_id"]] = writer
    for messages in bundle.messages.values():
        messages.sort(key=lambda m: (m.partition, m.offset))
    if bundle.counts() != {t: int(n) for t, n in manifest["counts"].items()}:
        raise BundleError("corrupt bundle: the manifest's counts do not match its members")
    if "order" in manifest:
        bundle.order = _read_order(manifest["order"], members[ORDER], bundle)
    del manifest["_window"]
    return bundle, manifest


def _read_order(entry: dict[str, Any], raw: bytes, bundle: Bundle) -> dict[str, list[Position]]:
    if hashlib.sha256(raw).hexdigest() != entry.get("sha256"):
        raise BundleError(f"corrupt bundle: checksum mismatch in {ORDER}")
    try:
        order = {
            str(k): [(str(t), int(p), int(o)) for t, p, o in v] for k, v in json.loads(raw).items()
        }
    except (ValueError, TypeError) as e:
        raise BundleError(f"corrupt bundle: bad {ORDER} ({e})") from None
    known = {(m.topic, m.partition, m.offset) for ms in bundle.messages.values() for m in ms}
    for kind, positions in order.items():
        if entry.get(kind) != len(positions) or not set(positions) <= known:
            raise BundleError(f"corrupt bundle: {ORDER} does not match the bundled messages")
    return order


def read_bundle(path: Path) -> tuple[Bundle, dict[str, Any]]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BundleError(f"cannot read {path}: {e.strerror or e}") from None
    return decode_bundle(data)
