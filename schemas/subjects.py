"""Registry subjects: the current schema of each topic, released history and golden messages.

A subject's schema is the topic's record, or a union of records when a topic carries
several (``exec.command``: ``SubmitOrder`` | ``CancelOrder``). Each released version is kept
under ``schemas/history/<subject>/v<N>.avsc``; golden messages written with it live in
``tests/golden/<subject>/v<N>[-<Record>].bin`` (schemaless Avro body) with the record as JSON
beside it, and must decode with the current reader forever.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.avsc import schema_set
from schemas.compatibility import compatibility_problems
from schemas.compatibility import policy_problems
from schemas.topics import SUBJECTS
from schemas.topics import TopicSpec

HISTORY_DIR = Path(__file__).parent / "history"
COMPATIBILITY = "FULL_TRANSITIVE"
"""Compatibility level of every subject.

FULL = BACKWARD (today's reader decodes every old message: replay from offset 0) plus
FORWARD (consumers still on an old version read new messages during a rolling deploy).
BACKWARD alone would accept removing a field without default, or adding a symbol to an enum
without default, and break every consumer not yet upgraded.
"""


def subject_schema(spec: TopicSpec) -> Any:
    """Self-contained schema of the topic's value: one record, or a union of records."""
    names = tuple(record.AVRO_NAME for record in spec.value_records)
    return schema_set().expand(names[0] if len(names) == 1 else names)


def subject_schema_str(spec: TopicSpec) -> str:
    """Compact JSON text of :func:`subject_schema`, as registered."""
    return json.dumps(subject_schema(spec), separators=(",", ":"))


def history(subject: str, history_dir: Path = HISTORY_DIR) -> list[tuple[int, Any]]:
    """Released versions of ``subject`` as (version, schema), oldest first."""
    versions = [
        (int(path.stem[1:]), json.loads(path.read_text(encoding="utf-8")))
        for path in (history_dir / subject).glob("v*.avsc")
    ]
    return sorted(versions, key=lambda item: item[0])


def release(history_dir: Path = HISTORY_DIR) -> list[Path]:
    """Write the current schema as the next version of every subject whose schema changed."""
    written = []
    for spec in SUBJECTS:
        current = subject_schema(spec)
        released = history(spec.subject, history_dir)
        if released and released[-1][1] == current:
            continue
        version = released[-1][0] + 1 if released else 1
        path = history_dir / spec.subject / f"v{version}.avsc"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def check_offline(history_dir: Path = HISTORY_DIR, level: str = COMPATIBILITY) -> list[str]:
    """Problems of the current schemas against every released version (empty = fine)."""
    problems = []
    for spec in SUBJECTS:
        current = subject_schema(spec)
        problems += [f"{spec.subject}: {p}" for p in policy_problems(current)]
        released = history(spec.subject, history_dir)
        if not released:
            problems.append(f"{spec.subject}: no released version under {history_dir}")
        for version, old in released:
            for problem in compatibility_problems(current, old, level):
                problems.append(f"{spec.subject} v{version}: {problem}")
    return problems
