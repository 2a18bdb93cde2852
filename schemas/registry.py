"""Schema registries: the protocol the codec needs, an in-memory one and a Confluent one.

Subjects follow TopicNameStrategy: ``<topic>-value``. Message keys are plain UTF-8 strings
(see ``schemas.topics.key_for``), so no ``<topic>-key`` subject exists.
"""

from __future__ import annotations

import json
from typing import Any
from typing import Protocol

from schemas.compatibility import compatibility_problems
from schemas.errors import IncompatibleSchema
from schemas.errors import SchemaLookupError
from schemas.subjects import COMPATIBILITY
from schemas.subjects import subject_schema_str
from schemas.topics import SUBJECTS


class SchemaRegistry(Protocol):
    """What the codec and the CLI need from a schema registry."""

    def register(self, subject: str, schema_str: str) -> int:
        """Id of ``schema_str`` under ``subject``, registering it if new.

        Raises IncompatibleSchema when the subject's compatibility level refuses it.
        """
        ...

    def schema_by_id(self, schema_id: int) -> str:
        """Schema text registered under ``schema_id``; SchemaLookupError when unknown."""
        ...

    def latest(self, subject: str) -> str | None:
        """Latest schema text of ``subject``, or None when the subject does not exist."""
        ...

    def set_compatibility(self, subject: str, level: str) -> None:
        """Set the subject's compatibility level (e.g. FULL_TRANSITIVE)."""
        ...

    def is_compatible(self, subject: str, schema_str: str) -> bool:
        """Whether registering ``schema_str`` under ``subject`` would be accepted."""
        ...


class InMemoryRegistry:
    """A registry in a dict, with the same compatibility rules (for unit tests and replay)."""

    def __init__(self, default_level: str = COMPATIBILITY) -> None:
        self._default_level = default_level
        self._ids: dict[str, int] = {}
        self._by_id: dict[int, str] = {}
        self._subjects: dict[str, list[int]] = {}
        self._levels: dict[str, str] = {}

    def register(self, subject: str, schema_str: str) -> int:
        canonical = _canonical(schema_str)
        versions = self._subjects.setdefault(subject, [])
        schema_id = self._ids.get(canonical)
        if schema_id is not None and schema_id in versions:
            return schema_id
        problems = self.problems(subject, schema_str)
        if problems:
            raise IncompatibleSchema(f"{subject}: " + "; ".join(problems))
        if schema_id is None:
            schema_id = len(self._by_id) + 1
            self._ids[canonical] = schema_id
            self._by_id[schema_id] = schema_str
        versions.append(schema_id)
        return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise SchemaLookupError(f"no schema with id {schema_id}") from None

    def latest(self, subject: str) -> str | None:
        versions = self._subjects.get(subject)
        return self._by_id[versions[-1]] if versions else None

    def set_compatibility(self, subject: str, level: str) -> None:
        self._levels[subject] = level

    def is_compatible(self, subject: str, schema_str: str) -> bool:
        return not self.problems(subject, schema_str)

    def problems(self, subject: str, schema_str: str) -> list[str]:
        """Why ``schema_str`` would be refused under ``subject`` (empty when accepted)."""
        level = self._levels.get(subject, self._default_level)
        versions = self._subjects.get(subject, [])
        olds = versions if level.endswith("_TRANSITIVE") else versions[-1:]
        new = json.loads(schema_str)
        out = []
        for schema_id in olds:
            out += compatibility_problems(new, json.loads(self._by_id[schema_id]), level)
        return out


class ConfluentRegistry:
    """A Confluent-compatible registry over HTTP (Confluent, Apicurio ccompat/v7, Redpanda)."""

    def __init__(self, url: str, **config: Any) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.client = SchemaRegistryClient({"url": url, **config})

    def register(self, subject: str, schema_str: str) -> int:
        from confluent_kafka.schema_registry import Schema
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return int(self.client.register_schema(subject, Schema(schema_str, "AVRO")))
        except SchemaRegistryError as e:
            if e.http_status_code == 409:
                raise IncompatibleSchema(f"{subject}: {e.error_message}") from e
            raise

    def schema_by_id(self, schema_id: int) -> str:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return str(self.client.get_schema(schema_id).schema_str)
        except SchemaRegistryError as e:
            if e.http_status_code == 404:
                raise SchemaLookupError(f"no schema with id {schema_id}") from e
            raise

    def latest(self, subject: str) -> str | None:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            return str(self.client.get_latest_version(subject).schema.schema_str)
        except SchemaRegistryError as e:
            if e.http_status_code == 404:
                return None
            raise

    def set_compatibility(self, subject: str, level: str) -> None:
        self.client.set_compatibility(subject_name=subject, level=level)

    def is_compatible(self, subject: str, schema_str: str) -> bool:
        from confluent_kafka.schema_registry import Schema

        if self.latest(subject) is None:
            return True
        return bool(self.client.test_compatibility(subject, Schema(schema_str, "AVRO")))


def _canonical(schema_str: str) -> str:
    return json.dumps(json.loads(schema_str), sort_keys=True, separators=(",", ":"))


def register_all(registry: SchemaRegistry, level: str = COMPATIBILITY) -> dict[str, int]:
    """Set the compatibility level of, then register, every subject: subject -> id."""
    ids = {}
    for spec in SUBJECTS:
        registry.set_compatibility(spec.subject, level)
        ids[spec.subject] = registry.register(spec.subject, subject_schema_str(spec))
    return ids


def check_all(registry: SchemaRegistry) -> list[str]:
    """Subjects whose current schema the registry would refuse (empty = all compatible)."""
    problems = []
    for spec in SUBJECTS:
        schema_str = subject_schema_str(spec)
        latest = registry.latest(spec.subject)
        if latest is None or _canonical(latest) == _canonical(schema_str):
            continue
        if not registry.is_compatible(spec.subject, schema_str):
            detail = compatibility_problems(json.loads(schema_str), json.loads(latest), "FULL")
            problems.append(f"{spec.subject}: refused by the registry; " + "; ".join(detail))
    return problems
