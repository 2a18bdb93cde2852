"""The ``.avsc`` files: loading, named-type resolution and self-contained (expanded) schemas.

Every file under ``schemas/avro/<family>/`` holds one named type (usually a record, possibly
with nested named types). Files refer to each other's types by full name; registries and
Kafka tools want self-contained schemas, so :func:`expand` inlines each named type at its
first use and refers to it by full name afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

AVRO_DIR = Path(__file__).parent / "avro"
PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_KINDS = frozenset({"record", "enum", "fixed", "error"})


def full_name(name: str, namespace: str | None) -> str:
    """Full name of ``name`` as Avro resolves it inside ``namespace``."""
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _namespace_of(fullname: str) -> str:
    return fullname.rpartition(".")[0]


@dataclass(frozen=True)
class SchemaFile:
    """One ``.avsc`` file and the named type it defines at top level."""

    path: Path
    family: str
    name: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class SchemaSet:
    """All ``.avsc`` files of a directory, with every named type indexed by full name."""

    files: tuple[SchemaFile, ...]
    definitions: dict[str, dict[str, Any]]
    defined_in: dict[str, SchemaFile]

    def file_of(self, fullname: str) -> SchemaFile:
        """The file defining ``fullname``."""
        return self.defined_in[fullname]

    def expand(self, fullname_or_names: str | tuple[str, ...]) -> Any:
        """Self-contained schema of one named type, or a union of several record types."""
        defined: set[str] = set()
        if isinstance(fullname_or_names, str):
            return self._expand_ref(fullname_or_names, defined)
        return [self._expand_ref(name, defined) for name in fullname_or_names]

    def schema_str(self, fullname_or_names: str | tuple[str, ...]) -> str:
        """Compact JSON text of :meth:`expand`, as registered in the schema registry."""
        return json.dumps(self.expand(fullname_or_names), separators=(",", ":"))

    def _expand_ref(self, fullname: str, defined: set[str]) -> Any:
        if fullname in defined:
            return fullname
        return self._expand(self.definitions[fullname], _namespace_of(fullname), defined)

    def _expand(self, node: Any, namespace: str, defined: set[str]) -> Any:
        if isinstance(node, str):
            if node in PRIMITIVES:
                return node
            return self._expand_ref(full_name(node, namespace), defined)
        if isinstance(node, list):
            return [self._expand(branch, namespace, defined) for branch in node]
        kind = node["type"]
        if kind in NAMED_KINDS:
            name = full_name(node["name"], node.get("namespace", namespace))
            defined.add(name)
            out = {"type": kind, "name": name.rpartition(".")[2], "namespace": _namespace_of(name)}
            out.update({k: v for k, v in node.items() if k not in ("type", "name", "namespace")})
            if kind in ("record", "error"):
                inner = _namespace_of(name)
                out["fields"] = [
                    {**field, "type": self._expand(field["type"], inner, defined)}
                    for field in node["fields"]
                ]
            return out
        if kind == "array":
            return {**node, "items": self._expand(node["items"], namespace, defined)}
        if kind == "map":
            return {**node, "values": self._expand(node["values"], namespace, defined)}
        return node


def _collect(node: Any, namespace: str, source: SchemaFile, out: dict[str, Any]) -> None:
    """Index every named type defined inside ``node``."""
    if isinstance(node, list):
        for branch in node:
            _collect(branch, namespace, source, out)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in NAMED_KINDS:
        name = full_name(node["name"], node.get("namespace", namespace))
        if name in out:
            raise ValueError(f"{source.path}: named type {name} is defined twice")
        out[name] = (node, source)
        for field in node.get("fields", ()):
            _collect(field["type"], _namespace_of(name), source, out)
    elif kind == "array":
        _collect(node["items"], namespace, source, out)
    elif kind == "map":
        _collect(node["values"], namespace, source, out)


def read_schema_set(avro_dir: Path) -> SchemaSet:
    """Read and index every ``.avsc`` under ``avro_dir``; each must parse with fastavro."""
    files: list[SchemaFile] = []
    found: dict[str, Any] = {}
    for path in sorted(avro_dir.glob("*/*.avsc")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        name = full_name(raw["name"], raw.get("namespace"))
        expected_namespace = f"fundingflow.{path.parent.name}"
        if _namespace_of(name) != expected_namespace:
            raise ValueError(f"{path}: namespace of {name} should be {expected_namespace}")
        source = SchemaFile(path=path, family=path.parent.name, name=name, raw=raw)
        files.append(source)
        _collect(raw, expected_namespace, source, found)
    schema_set = SchemaSet(
        files=tuple(files),
        definitions={name: node for name, (node, _) in found.items()},
        defined_in={name: source for name, (_, source) in found.items()},
    )
    for source in files:
        fastavro.parse_schema(schema_set.expand(source.name))
    return schema_set


@cache
def schema_set() -> SchemaSet:
    """The package's own schemas (read once per process)."""
    return read_schema_set(AVRO_DIR)
