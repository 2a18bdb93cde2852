"""Local Avro schema-resolution check (reader = new schema, writer = each old version).

It implements the resolution rules of the Avro specification, which the registry applies for
``BACKWARD_TRANSITIVE``: a new reader must read data written with every older writer. On top
of those rules, :func:`policy_problems` holds our own house rules (every enum has a default
symbol, so adding symbols later stays readable by old consumers too).
"""

from __future__ import annotations

from typing import Any

from schemas.avsc import NAMED_KINDS
from schemas.avsc import PRIMITIVES
from schemas.avsc import full_name

_PROMOTIONS = {
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}


def _index(node: Any, namespace: str, out: dict[str, Any]) -> None:
    if isinstance(node, list):
        for branch in node:
            _index(branch, namespace, out)
    elif isinstance(node, dict):
        kind = node.get("type")
        if kind in NAMED_KINDS:
            name = full_name(node["name"], node.get("namespace", namespace))
            out[name] = node
            inner = name.rpartition(".")[0]
            for field in node.get("fields", ()):
                _index(field["type"], inner, out)
        elif kind == "array":
            _index(node["items"], namespace, out)
        elif kind == "map":
            _index(node["values"], namespace, out)
        elif isinstance(kind, dict | list):
            _index(kind, namespace, out)


class _Schema:
    """A schema with its named types indexed, so references resolve."""

    def __init__(self, schema: Any) -> None:
        self.named: dict[str, Any] = {}
        _index(schema, "", self.named)
        self.root = schema

    def resolve(self, node: Any, namespace: str) -> tuple[Any, str]:
        """(definition, namespace) of ``node``, following name references."""
        if isinstance(node, str) and node not in PRIMITIVES:
            name = full_name(node, namespace)
            if name not in self.named and name.rpartition(".")[2] in self.named:
                name = name.rpartition(".")[2]
            return self.named[name], name.rpartition(".")[0]
        if isinstance(node, dict) and isinstance(node.get("type"), dict | list):
            return self.resolve(node["type"], namespace)
        if isinstance(node, dict) and node.get("type") in NAMED_KINDS:
            name = full_name(node["name"], node.get("namespace", namespace))
            return node, name.rpartition(".")[0]
        return node, namespace


def _kind(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return "union"
    kind = node["type"]
    if node.get("logicalType") == "decimal":
        return f"decimal({node.get('precision')},{node.get('scale', 0)})"
    return str(kind)


def _name(node: Any, namespace: str) -> str:
    return full_name(node["name"], node.get("namespace", namespace))


class _Checker:
    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader = _Schema(reader)
        self.writer = _Schema(writer)
        self.problems: list[str] = []
        self.seen: set[tuple[str, str]] = set()

    def check(self, r_node: Any, r_ns: str, w_node: Any, w_ns: str, path: str) -> None:
        r_node, r_ns = self.reader.resolve(r_node, r_ns)
        w_node, w_ns = self.writer.resolve(w_node, w_ns)
        problems = self._match(r_node, r_ns, w_node, w_ns, path)
        self.problems.extend(problems)

    def _match(self, r: Any, r_ns: str, w: Any, w_ns: str, path: str) -> list[str]:
        r_kind, w_kind = _kind(r), _kind(w)
        if "union" in (r_kind, w_kind):
            return self._union(r, r_ns, w, w_ns, path)
        if r_kind != w_kind and r_kind not in _PROMOTIONS.get(w_kind, set()):
            return [f"{path}: reader type {r_kind} cannot read writer type {w_kind}"]
        if r_kind in ("record", "error"):
            return self._record(r, r_ns, w, w_ns, path)
        if r_kind == "enum":
            return self._enum(r, r_ns, w, w_ns, path)
        if r_kind == "array":
            return self._sub(r["items"], r_ns, w["items"], w_ns, f"{path}[]")
        if r_kind == "map":
            return self._sub(r["values"], r_ns, w["values"], w_ns, f"{path}{{}}")
        if r_kind == "fixed" and (_name(r, r_ns) != _name(w, w_ns) or r["size"] != w["size"]):
            return [f"{path}: fixed {_name(w, w_ns)} does not match {_name(r, r_ns)}"]
        return []

    def _union(self, r: Any, r_ns: str, w: Any, w_ns: str, path: str) -> list[str]:
        if isinstance(w, list):
            out = []
            for branch in w:
                out += self._sub(r, r_ns, branch, w_ns, f"{path}<{_kind(branch)}>")
            return out
        for branch in r:
            if not self._sub(branch, r_ns, w, w_ns, path):
                return []
        return [f"{path}: no branch of reader union {_kinds(r)} reads writer {_kind(w)}"]

    def _sub(self, r: Any, r_ns: str, w: Any, w_ns: str, path: str) -> list[str]:
        r, r_ns = self.reader.resolve(r, r_ns)
        w, w_ns = self.writer.resolve(w, w_ns)
        return self._match(r, r_ns, w, w_ns, path)

    def _names_match(self, r: Any, r_ns: str, w: Any, w_ns: str) -> bool:
        aliases = {full_name(a, r_ns) for a in r.get("aliases", ())}
        return _name(w, w_ns) in {_name(r, r_ns), *aliases}

    def _record(self, r: Any, r_ns: str, w: Any, w_ns: str, path: str) -> list[str]:
        if not self._names_match(r, r_ns, w, w_ns):
            return [f"{path}: record {_name(w, w_ns)} is not {_name(r, r_ns)}"]
        pair = (_name(r, r_ns), _name(w, w_ns))
        if pair in self.seen:
            return []
        self.seen.add(pair)
        r_inner, w_inner = _name(r, r_ns).rpartition(".")[0], _name(w, w_ns).rpartition(".")[0]
        writer_fields = {f["name"]: f for f in w["fields"]}
        out = []
        for field in r["fields"]:
            names = [field["name"], *field.get("aliases", ())]
            match = next((writer_fields[n] for n in names if n in writer_fields), None)
            where = f"{path}.{field['name']}"
            if match is None:
                if "default" not in field:
                    out.append(f"{where}: new field has no default (old data lacks it)")
                continue
            out += self._sub(field["type"], r_inner, match["type"], w_inner, where)
        return out

    def _enum(self, r: Any, r_ns: str, w: Any, w_ns: str, path: str) -> list[str]:
        if not self._names_match(r, r_ns, w, w_ns):
            return [f"{path}: enum {_name(w, w_ns)} is not {_name(r, r_ns)}"]
        missing = [s for s in w["symbols"] if s not in r["symbols"]]
        if missing and "default" not in r:
            return [f"{path}: symbols {missing} of the old enum are gone and it has no default"]
        return []


def _kinds(union: list[Any]) -> str:
    return "[" + ", ".join(_kind(b) for b in union) + "]"


def reader_problems(reader: Any, writer: Any) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer`` (empty when it can)."""
    checker = _Checker(reader, writer)
    checker.check(reader, "", writer, "", "$")
    return checker.problems


def policy_problems(schema: Any) -> list[str]:
    """House rules beyond Avro: every enum has a default; decimals are decimal(38, 18)."""
    named: dict[str, Any] = {}
    _index(schema, "", named)
    out = [
        f"{name}: enum has no default symbol"
        for name, node in named.items()
        if node["type"] == "enum" and node.get("default") not in node["symbols"]
    ]
    out += _decimal_problems(schema, "$")
    return out


def _decimal_problems(node: Any, path: str) -> list[str]:
    if isinstance(node, list):
        return [p for branch in node for p in _decimal_problems(branch, path)]
    if not isinstance(node, dict):
        return []
    if node.get("logicalType") == "decimal" and (node.get("precision"), node.get("scale")) != (
        38,
        18,
    ):
        return [f"{path}: decimal must be decimal(38, 18)"]
    out = []
    for field in node.get("fields", ()):
        out += _decimal_problems(field["type"], f"{path}.{field['name']}")
    for key in ("items", "values"):
        if key in node:
            out += _decimal_problems(node[key], path)
    if isinstance(node.get("type"), dict | list):
        out += _decimal_problems(node["type"], path)
    return out


def compatibility_problems(new: Any, old: Any, level: str) -> list[str]:
    """Problems of registering ``new`` after ``old`` under a registry compatibility level.

    BACKWARD: the new schema reads old data. FORWARD: old schemas read new data. FULL: both.
    A ``_TRANSITIVE`` suffix changes nothing here; callers pass every old version.
    """
    mode = level.removesuffix("_TRANSITIVE")
    out = []
    if mode in ("BACKWARD", "FULL"):
        out += [f"new cannot read old: {p}" for p in reader_problems(new, old)]
    if mode in ("FORWARD", "FULL"):
        out += [f"old cannot read new: {p}" for p in reader_problems(old, new)]
    if mode not in ("BACKWARD", "FORWARD", "FULL", "NONE"):
        raise ValueError(f"unknown compatibility level {level!r}")
    return out
