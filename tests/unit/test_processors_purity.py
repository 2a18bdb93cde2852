"""Guard: processors read no wall clock and use no unseeded randomness.

import-linter keeps Kafka, Faust, ccxt and database clients out of processors; this test keeps
time and randomness out, so replaying events rebuilds identical state.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROCESSORS = Path(__file__).resolve().parents[2] / "processors"
FORBIDDEN_CALLS = {
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("uuid", "uuid1"),
    ("uuid", "uuid4"),
}
FORBIDDEN_MODULES = {"random", "secrets", "asyncio", "socket", "threading"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(node.module)
            found += [
                f"{node.module}.{a.name}"
                for a in node.names
                if (node.module.split(".")[-1], a.name) in FORBIDDEN_CALLS
            ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in FORBIDDEN_CALLS
        ):
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


@pytest.mark.parametrize(
    "path", sorted(PROCESSORS.rglob("*.py")), ids=lambda p: str(p.relative_to(PROCESSORS))
)
def test_processor_module_reads_no_clock_and_no_randomness(path: Path) -> None:
    assert _violations(path) == []


def test_the_guard_can_fail(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("import time\nimport random\n\ndef f():\n    return time.time()\n")
    assert _violations(planted) == ["random", "time.time (line 5)"]
