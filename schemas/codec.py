"""Confluent wire format codec: magic byte 0, 4-byte big-endian schema id, schemaless Avro.

Schemas are parsed once: the writer schema of each topic on first encode, the writer schema
of each schema id on first decode (fetched from the registry, then cached). Old writer
versions decode with the current schema as reader (Avro schema resolution), so a replay from
offset 0 yields today's records. Every failure on bad input raises DecodeError or EncodeError
with a DeadLetterReason code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from typing import TypeVar

import fastavro

from schemas.avro_record import AvroRecord
from schemas.avsc import schema_set
from schemas.errors import DecodeError
from schemas.errors import EncodeError
from schemas.errors import SchemaLookupError
from schemas.records import RECORDS_BY_AVRO_NAME
from schemas.records.dlq import DeadLetterReason
from schemas.registry import SchemaRegistry
from schemas.subjects import subject_schema
from schemas.topics import by_name

_read = fastavro.schemaless_reader
MAGIC_BYTE = 0
HEADER_SIZE = 5
R = TypeVar("R", bound=AvroRecord)


@dataclass(frozen=True)
class _Writer:
    """How to write one topic: header, parsed schema, accepted record types."""

    header: bytes
    schema: Any
    accepts: frozenset[type[AvroRecord]]
    union: bool


@dataclass(frozen=True)
class _Reader:
    """How to read one schema id: writer schema, reader schema (None when equal), builder."""

    writer: Any
    reader: Any
    union: bool
    build: Callable[[Any], AvroRecord]


def _build_union(datum: Any) -> AvroRecord:
    name, fields = datum
    return RECORDS_BY_AVRO_NAME[name].from_avro(fields)


def _record_names(schema: Any) -> tuple[str, ...]:
    """Full names of the top-level record(s) of a registered writer schema."""
    branches = schema if isinstance(schema, list) else [schema]
    names = []
    for branch in branches:
        if not isinstance(branch, dict) or branch.get("type") != "record":
            raise ValueError(f"expected a record or a union of records, found {branch!r:.80}")
        name = branch["name"]
        namespace = branch.get("namespace")
        names.append(name if "." in name or not namespace else f"{namespace}.{name}")
    return tuple(names)


class Codec:
    """Encode records to, and decode records from, Confluent-framed Avro bytes."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self._registry = registry
        self._writers: dict[str, _Writer] = {}
        self._readers: dict[int, _Reader] = {}
        self._by_header: dict[bytes, _Reader] = {}
        """Readers by the 5 header bytes (magic byte and schema id) of the messages seen."""

    def encode(self, record: AvroRecord, topic: str) -> bytes:
        """Confluent-framed bytes of ``record`` for ``topic``."""
        writer = self._writers.get(topic) or self._writer_for(topic)
        if type(record) not in writer.accepts:
            raise EncodeError(
                DeadLetterReason.WRONG_SCHEMA,
                f"topic {topic} does not carry {type(record).__name__}",
            )
        datum: Any = record.to_avro()
        if writer.union:
            datum = (record.AVRO_NAME, datum)
        buffer = BytesIO()
        buffer.write(writer.header)
        try:
            fastavro.schemaless_writer(buffer, writer.schema, datum)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as e:
            detail = f"cannot encode {type(record).__name__} for {topic}: {e}"
            raise EncodeError(DeadLetterReason.PROCESSING_ERROR, detail) from e
        return buffer.getvalue()

    def decode(self, data: bytes) -> AvroRecord:
        """The record in ``data``, read with the current schema of its type."""
        try:
            reader = self._by_header.get(data[:HEADER_SIZE])
        except TypeError:  # a bytearray's slice is no key; it takes the checks below
            reader = None
        if reader is None:
            reader = self._header_reader(data)
        buffer = BytesIO(data)
        buffer.seek(HEADER_SIZE)
        try:
            datum = _read(buffer, reader.writer, reader.reader, reader.union, reader.union)
            record = reader.build(datum)
        except Exception as e:  # untrusted bytes: any failure at all is bad input
            schema_id = int.from_bytes(data[1:HEADER_SIZE], "big")
            detail = f"Avro body of schema id {schema_id} does not decode: {type(e).__name__}: {e}"
            raise DecodeError(DeadLetterReason.UNDECODABLE, detail[:500], data) from e
        if buffer.tell() != len(data):
            extra = len(data) - buffer.tell()
            raise DecodeError(
                DeadLetterReason.UNDECODABLE, f"{extra} bytes left after the Avro body", data
            )
        return record

    def _header_reader(self, data: bytes) -> _Reader:
        """The reader of the schema id in ``data``'s header, kept by header bytes."""
        if len(data) < HEADER_SIZE:
            raise DecodeError(
                DeadLetterReason.UNDECODABLE, f"expected at least 5 bytes, was {len(data)}", data
            )
        if data[0] != MAGIC_BYTE:
            raise DecodeError(
                DeadLetterReason.BAD_MAGIC_BYTE, f"expected magic byte 0, was {data[0]}", data
            )
        schema_id = int.from_bytes(data[1:HEADER_SIZE], "big")
        reader = self._readers.get(schema_id) or self._reader_for(schema_id, data)
        self._by_header[bytes(data[:HEADER_SIZE])] = reader
        return reader

    def decode_as(self, data: bytes, record_type: type[R]) -> R:
        """Like :meth:`decode`, and refuse any record that is not a ``record_type``."""
        record = self.decode(data)
        if not isinstance(record, record_type):
            detail = f"expected {record_type.__name__}, was {type(record).__name__}"
            raise DecodeError(DeadLetterReason.WRONG_SCHEMA, detail, data)
        return record

    def decode_for_topic(self, data: bytes, topic: str) -> AvroRecord:
        """Like :meth:`decode`, and refuse any record type the topic does not carry."""
        record = self.decode(data)
        if type(record) not in by_name(topic).value_records:
            detail = f"topic {topic} does not carry {type(record).__name__}"
            raise DecodeError(DeadLetterReason.WRONG_SCHEMA, detail, data)
        return record

    def _writer_for(self, topic: str) -> _Writer:
        try:
            spec = by_name(topic)
        except KeyError as e:
            raise EncodeError(DeadLetterReason.WRONG_SCHEMA, f"unknown topic {topic!r}") from e
        schema = subject_schema(spec)
        schema_str = json.dumps(schema, separators=(",", ":"))
        schema_id = self._registry.register(spec.subject, schema_str)
        header = bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big")
        union = isinstance(schema, list)
        parsed = fastavro.parse_schema(schema)
        writer = _Writer(header, parsed, frozenset(spec.value_records), union)
        self._writers[topic] = writer
        self._readers.setdefault(schema_id, self._reader(schema, parsed))
        return writer

    def _reader_for(self, schema_id: int, data: bytes) -> _Reader:
        try:
            schema_str = self._registry.schema_by_id(schema_id)
        except SchemaLookupError as e:
            raise DecodeError(
                DeadLetterReason.UNKNOWN_SCHEMA_ID, f"unknown schema id {schema_id}", data
            ) from e
        try:
            writer = json.loads(schema_str)
            reader = self._reader(writer, fastavro.parse_schema(writer))
        except (ValueError, KeyError, TypeError, fastavro.schema.SchemaParseException) as e:
            detail = f"schema id {schema_id} is not one of our records: {e}"
            raise DecodeError(DeadLetterReason.WRONG_SCHEMA, detail, data) from e
        self._readers[schema_id] = reader
        return reader

    @staticmethod
    def _reader(writer: Any, parsed_writer: Any) -> _Reader:
        names = _record_names(writer)
        unknown = [name for name in names if name not in RECORDS_BY_AVRO_NAME]
        if unknown:
            raise KeyError(f"no record type named {', '.join(unknown)}")
        current = schema_set().expand(names[0] if len(names) == 1 else names)
        reader = None if current == writer else fastavro.parse_schema(current)
        if len(names) > 1:
            return _Reader(parsed_writer, reader, True, _build_union)
        return _Reader(parsed_writer, reader, False, RECORDS_BY_AVRO_NAME[names[0]].from_avro)
