"""Guard: each top-level package resolves inside this repository.

PyPI has unrelated distributions named ``schemas``, ``connectors``, ``processors`` and
``executors`` (and ``benchmarks`` is a common name); an installed one would shadow ours silently.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "package",
    ["benchmarks", "fundingflow", "schemas", "processors", "connectors", "streams", "executors"],
)
def test_package_resolves_inside_repository(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__file__ is not None
    assert Path(module.__file__).resolve().is_relative_to(REPO), module.__file__
