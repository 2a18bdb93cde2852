"""Generate ``schemas/records/<family>.py`` (pydantic records) from the ``.avsc`` files.

Run ``python -m schemas.codegen`` (or ``fundingflow schemas generate``) after changing a
schema. Output is deterministic and already ``ruff format`` clean, so a test can regenerate
into a temporary directory and compare with the committed files.
"""

from __future__ import annotations

import keyword
import sys
import textwrap
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from schemas.avsc import AVRO_DIR
from schemas.avsc import PRIMITIVES
from schemas.avsc import SchemaSet
from schemas.avsc import full_name
from schemas.avsc import read_schema_set

RECORDS_DIR = Path(__file__).parent / "records"
_SCALARS = {
    "boolean": "bool",
    "int": "Int",
    "long": "Long",
    "float": "Float",
    "double": "Float",
    "string": "str",
    "bytes": "bytes",
}
_IDENTITY = "{}"
STATE_FAMILIES = frozenset({"state"})
"""Families of reducer state records: stored in the workers' tables, never events."""
TRANSPORT_FAMILIES = frozenset({"stream"})
"""Records that only carry other records between the workers' stages (not events either)."""
INTERNED = frozenset({"fundingflow.common.InstrumentRef"})
"""Records of scalars only that repeat on nearly every message (every book and funding update
names its instrument): ``from_avro`` gives one shared (frozen) record per distinct value."""


@dataclass(frozen=True)
class _Conv:
    """How one Avro type appears in Python: annotation and value templates (``{}`` = value)."""

    annotation: str
    to_avro: str = _IDENTITY
    from_avro: str = _IDENTITY


def _call(function: str | None) -> str:
    return _IDENTITY if function is None else function + "({})"


@dataclass
class _Module:
    family: str
    imports: set[tuple[str, str]] = field(default_factory=set)
    blocks: list[str] = field(default_factory=list)
    emitted: set[str] = field(default_factory=set)


def _doc_lines(text: str, indent: str) -> list[str]:
    """A docstring wrapped to the line length."""
    text = " ".join(text.split()).replace('"""', "'''").rstrip("\\")
    if len(indent) + len(text) + 6 <= 100:
        return [f'{indent}"""{text}"""']
    wrapped = textwrap.wrap(text, width=96 - len(indent))
    body = [f"{indent}{line}" for line in wrapped[1:]]
    return [f'{indent}"""{wrapped[0]}', *body, f'{indent}"""']


class _Generator:
    def __init__(self, schemas: SchemaSet) -> None:
        self.schemas = schemas
        self.modules: dict[str, _Module] = {}

    def module(self, family: str) -> _Module:
        return self.modules.setdefault(family, _Module(family))

    def conv(self, node: Any, namespace: str, mod: _Module) -> _Conv:
        if isinstance(node, str):
            if node in PRIMITIVES:
                if node == "null":
                    raise ValueError("a bare null type has no Python record field")
                mod.imports |= {("schemas.scalars", _SCALARS[node])} if node[0] in "ilfd" else set()
                return _Conv(_SCALARS[node])
            return self.named(full_name(node, namespace), mod)
        if isinstance(node, list):
            branches = [b for b in node if b != "null"]
            if len(node) != 2 or len(branches) != 1:
                raise ValueError(f"only [null, T] unions are supported, found {node}")
            inner = self.conv(branches[0], namespace, mod)
            return _Conv(
                f"{inner.annotation} | None",
                _optional(inner.to_avro),
                _optional(inner.from_avro),
            )
        kind = node["type"]
        if node.get("logicalType") == "decimal":
            if (node.get("precision"), node.get("scale", 0)) != (38, 18):
                raise ValueError(f"every decimal is decimal(38, 18), found {node}")
            mod.imports.add(("schemas.scalars", "AvroDecimal"))
            return _Conv("AvroDecimal")
        if kind in ("record", "enum"):
            return self.named(full_name(node["name"], node.get("namespace", namespace)), mod)
        if kind == "array":
            item = self.conv(node["items"], namespace, mod)
            to_avro = "list({})" if item.to_avro == _IDENTITY else _each(item.to_avro, "list")
            from_avro = "tuple({})" if item.from_avro == _IDENTITY else _each(item.from_avro)
            return _Conv(f"tuple[{item.annotation}, ...]", to_avro, from_avro)
        if isinstance(kind, str) and kind in PRIMITIVES:
            return self.conv(kind, namespace, mod)
        raise ValueError(f"unsupported Avro type {node}")

    def named(self, name: str, mod: _Module) -> _Conv:
        definition = self.schemas.definitions[name]
        family = self.schemas.file_of(name).family
        cls = name.rpartition(".")[2]
        if family == mod.family:
            self.emit(name)
        else:
            mod.imports.add((f"schemas.records.{family}", cls))
        if definition["type"] == "enum":
            return _Conv(cls, _IDENTITY, _call(cls))
        return _Conv(cls, _call(f"{cls}.to_avro"), _call(f"{cls}.from_avro"))

    def emit(self, name: str) -> None:
        """Render the class of named type ``name`` (after the classes it needs)."""
        family = self.schemas.file_of(name).family
        mod = self.module(family)
        if name in mod.emitted:
            return
        mod.emitted.add(name)
        definition = self.schemas.definitions[name]
        cls = name.rpartition(".")[2]
        doc = definition.get("doc", f"Avro {definition['type']} {name}.")
        if definition["type"] == "enum":
            mod.imports.add(("enum", "StrEnum"))
            lines = [f"class {cls}(StrEnum):", *_doc_lines(doc, "    "), ""]
            lines += [f'    {symbol} = "{symbol}"' for symbol in definition["symbols"]]
            mod.blocks.append("\n".join(lines))
            return
        if definition["type"] != "record":
            raise ValueError(f"unsupported named type {definition['type']} for {name}")
        namespace = name.rpartition(".")[0]
        fields = []
        for avro_field in definition["fields"]:
            fname = avro_field["name"]
            if keyword.iskeyword(fname) or fname.startswith(("_", "model_")):
                raise ValueError(f"{name}.{fname} cannot be a pydantic field name")
            fields.append((avro_field, self.conv(avro_field["type"], namespace, mod)))
        mod.imports |= {
            ("collections.abc", "Mapping"),
            ("typing", "Any"),
            ("typing", "ClassVar"),
            ("typing", "Self"),
            ("pydantic", "ConfigDict"),
            ("schemas.avro_record", "AvroRecord"),
        }
        if any("maybe(" in conv.to_avro + conv.from_avro for _, conv in fields):
            mod.imports.add(("schemas.avro_record", "maybe"))
        lines = [f"class {cls}(AvroRecord):", *_doc_lines(doc, "    "), ""]
        lines.append('    model_config = ConfigDict(frozen=True, extra="forbid")')
        lines.append(f'    AVRO_NAME: ClassVar[str] = "{name}"')
        for avro_field, conv in fields:
            default = _default(avro_field, conv)
            lines.append("")
            lines.append(f"    {avro_field['name']}: {conv.annotation}{default}")
            lines += _doc_lines(avro_field.get("doc", ""), "    ") if avro_field.get("doc") else []
        lines += ["", "    def to_avro(self) -> dict[str, Any]:", "        return {"]
        for avro_field, conv in fields:
            value = conv.to_avro.replace("{}", f"self.{avro_field['name']}")
            lines.append(f'            "{avro_field["name"]}": {value},')
        lines += ["        }", "", "    @classmethod"]
        lines.append("    def from_avro(cls, datum: Mapping[str, Any]) -> Self:")
        build = ["cls.trusted(", "    {"]
        for avro_field, conv in fields:
            value = conv.from_avro.replace("{}", f'datum["{avro_field["name"]}"]')
            build.append(f'        "{avro_field["name"]}": {value},')
        build += ["    }", ")"]
        if name in INTERNED:
            self.check_interned(name)
            key = ", ".join(f'datum["{f["name"]}"]' for f, _ in fields)
            lines.append(f"        key = ({key})")
            lines.append("        found: Self | None = cls._INTERNED.get(key)")
            lines.append("        if found is None:")
            lines.append("            found = cls._intern(")
            lines.append("                key,")
            lines += [f"                {line}" for line in build[:-1]]
            lines += ["                ),", "            )", "        return found"]
        else:
            lines.append(f"        return {build[0]}")
            lines += [f"        {line}" for line in build[1:]]
        mod.blocks.append("\n".join(lines))

    def check_interned(self, name: str) -> None:
        """An interned record holds only immutable scalars (strings, numbers, enums)."""
        namespace = name.rpartition(".")[0]
        for avro_field in self.schemas.definitions[name]["fields"]:
            kind = avro_field["type"]
            if isinstance(kind, str) and kind not in PRIMITIVES:
                kind = self.schemas.definitions[full_name(kind, namespace)]
            enum = isinstance(kind, dict) and kind.get("type") == "enum"
            if not (enum or kind in ("string", "int", "long", "boolean")):
                raise ValueError(f"{name}.{avro_field['name']}: only scalars can be interned")


def _optional(template: str) -> str:
    if template == _IDENTITY:
        return _IDENTITY
    if not template.endswith("({})"):
        raise ValueError(f"cannot make {template} nullable")
    return "maybe(" + template.removesuffix("({})") + ", {})"


def _each(template: str, container: str = "tuple") -> str:
    body = template.replace("{}", "item")
    opener = "[" if container == "list" else "tuple("
    closer = "]" if container == "list" else ")"
    return opener + body + " for item in {}" + closer


def _default(avro_field: dict[str, Any], conv: _Conv) -> str:
    if "default" not in avro_field:
        return ""
    value = avro_field["default"]
    if value is None:
        return " = None"
    if isinstance(value, bool | int | float):
        return f" = {value!r}"
    if isinstance(value, str) and conv.to_avro == _IDENTITY and conv.from_avro != _IDENTITY:
        return f" = {conv.annotation}.{value}"
    if isinstance(value, str):
        return f" = {value!r}"
    if value == []:
        return " = ()"
    raise ValueError(f"unsupported default {value!r} on field {avro_field['name']}")


def _render(mod: _Module) -> str:
    header = (
        f"# generated by schemas.codegen from schemas/avro/{mod.family}/*.avsc — do not edit\n"
        f'"""Records of the ``fundingflow.{mod.family}`` namespace."""\n'
    )
    groups: dict[int, list[str]] = {0: [], 1: [], 2: []}
    for module, name in sorted(mod.imports, key=lambda item: (item[0], item[1].lower())):
        group = 0 if module in ("collections.abc", "enum", "typing") else 1
        group = 2 if module.startswith("schemas") else group
        groups[group].append(f"from {module} import {name}")
    imports = "\n\n".join("\n".join(lines) for lines in groups.values() if lines)
    return header + "\n" + imports + "\n\n\n" + "\n\n\n".join(mod.blocks) + "\n"


def _render_index(schemas: SchemaSet) -> str:
    top = [f for f in schemas.files if f.family != "common" and _is_record(schemas, f.name)]
    events = [f for f in top if f.family not in STATE_FAMILIES | TRANSPORT_FAMILIES]
    states = [f for f in top if f.family in STATE_FAMILIES]
    lines = [
        "# generated by schemas.codegen from schemas/avro — do not edit",
        '"""Every generated record, by Avro full name."""',
        "",
        "from schemas.avro_record import AvroRecord",
    ]
    records = sorted(n for n in schemas.definitions if _is_record(schemas, n))
    for name in sorted(records, key=lambda n: (schemas.file_of(n).family, n.rpartition(".")[2])):
        family, cls = schemas.file_of(name).family, name.rpartition(".")[2]
        lines.append(f"from schemas.records.{family} import {cls}")
    lines += ["", "EVENT_RECORDS: tuple[type[AvroRecord], ...] = ("]
    lines += [f"    {f.name.rpartition('.')[2]}," for f in events]
    lines += [
        ")",
        '"""Top-level event records (one per ``.avsc`` file of an event family)."""',
        "",
    ]
    lines += ["STATE_RECORDS: tuple[type[AvroRecord], ...] = ("]
    lines += [f"    {f.name.rpartition('.')[2]}," for f in states]
    lines += [")", '"""Top-level state records (reducer state, not events: no envelope)."""', ""]
    lines += ["RECORDS_BY_AVRO_NAME: dict[str, type[AvroRecord]] = {"]
    lines += [f'    "{name}": {name.rpartition(".")[2]},' for name in records]
    lines += ["}", '"""Every record class, nested ones included."""', ""]
    return "\n".join(lines)


def _is_record(schemas: SchemaSet, name: str) -> bool:
    return bool(schemas.definitions[name]["type"] == "record")


def render_all(avro_dir: Path = AVRO_DIR) -> dict[str, str]:
    """File name -> source text of every generated module."""
    schemas = read_schema_set(avro_dir)
    generator = _Generator(schemas)
    for schema_file in schemas.files:
        generator.emit(schema_file.name)
    out = {f"{family}.py": _render(mod) for family, mod in sorted(generator.modules.items())}
    out["__init__.py"] = _render_index(schemas)
    return out


def generate(out_dir: Path = RECORDS_DIR, avro_dir: Path = AVRO_DIR) -> list[Path]:
    """Write every generated module into ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, text in render_all(avro_dir).items():
        path = out_dir / file_name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main() -> int:
    """Entry point of ``python -m schemas.codegen``."""
    for path in generate():
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
