"""Golden messages: one encoded sample per subject, record type and released version.

``tests/golden/<subject>/v<N>.bin`` holds the schemaless Avro body written with
``schemas/history/<subject>/v<N>.avsc`` (``v<N>-<Record>.bin`` on union subjects), and the
``.json`` beside it the record as written. They are never rewritten: every later schema
must still read them (see :func:`read_golden`).
"""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any

import fastavro

from schemas.avro_record import AvroRecord
from schemas.avsc import schema_set
from schemas.records import RECORDS_BY_AVRO_NAME
from schemas.rendering import to_jsonable
from schemas.samples import sample
from schemas.subjects import HISTORY_DIR
from schemas.subjects import history
from schemas.topics import SUBJECTS


def golden_path(golden_dir: Path, subject: str, version: int, record: str, union: bool) -> Path:
    """Where the golden body of one (subject, version, record type) lives."""
    suffix = f"-{record.rpartition('.')[2]}" if union else ""
    return golden_dir / subject / f"v{version}{suffix}.bin"


def write_golden(golden_dir: Path, history_dir: Path = HISTORY_DIR) -> list[Path]:
    """Write the missing golden messages of the latest released version of every subject."""
    written = []
    for spec in SUBJECTS:
        released = history(spec.subject, history_dir)
        if not released:
            continue
        version, writer = released[-1]
        union = isinstance(writer, list)
        parsed = fastavro.parse_schema(writer)
        for record_type in spec.value_records:
            path = golden_path(golden_dir, spec.subject, version, record_type.AVRO_NAME, union)
            if path.exists():
                continue
            record = sample(record_type)
            datum: Any = record.to_avro()
            datum = (record.AVRO_NAME, datum) if union else datum
            buffer = BytesIO()
            fastavro.schemaless_writer(buffer, parsed, datum)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(buffer.getvalue())
            text = json.dumps(to_jsonable(record), indent=2, sort_keys=True, ensure_ascii=False)
            path.with_suffix(".json").write_text(text + "\n", encoding="utf-8")
            written.append(path)
    return written


def read_golden(path: Path, history_dir: Path = HISTORY_DIR) -> AvroRecord:
    """Decode one golden body with its historical writer schema and today's reader."""
    subject, version = path.parent.name, int(path.stem.partition("-")[0][1:])
    writer = dict(history(subject, history_dir))[version]
    union = isinstance(writer, list)
    names = [b["namespace"] + "." + b["name"] for b in (writer if union else [writer])]
    reader = schema_set().expand(tuple(names) if union else names[0])
    datum: Any = fastavro.schemaless_reader(
        BytesIO(path.read_bytes()),
        fastavro.parse_schema(writer),
        fastavro.parse_schema(reader),
        return_record_name=union,
        return_record_name_override=union,
    )
    if union:
        name, datum = datum
        return RECORDS_BY_AVRO_NAME[name].from_avro(datum)
    return RECORDS_BY_AVRO_NAME[names[0]].from_avro(datum)
