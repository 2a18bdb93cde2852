"""One spelling of a refusal: every ``InvalidEvent`` carries a ``DeadLetterReason`` member."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from schemas.errors import DecodeError
from schemas.errors import EncodeError
from schemas.errors import FundingflowError
from schemas.errors import InvalidEvent
from schemas.records.dlq import DeadLetterReason

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("fundingflow", "schemas", "processors", "connectors", "streams", "executors")
RAISERS = {"InvalidEvent", "DecodeError", "EncodeError", "InvalidPayload"}


@pytest.mark.parametrize("cls", [InvalidEvent, DecodeError, EncodeError])
def test_a_reason_is_the_enum_member(cls: type[InvalidEvent]) -> None:
    error = cls(DeadLetterReason.CROSSED_BOOK, "best bid 101 >= best ask 100", b"raw")
    assert error.reason is DeadLetterReason.CROSSED_BOOK
    assert str(error) == "CROSSED_BOOK: best bid 101 >= best ask 100"
    assert isinstance(error, FundingflowError)


@pytest.mark.parametrize("reason", ["CROSSED_BOOK", "book_crossed", 3, None])
def test_a_reason_that_is_not_the_enum_is_refused(reason: Any) -> None:
    with pytest.raises(TypeError, match="DeadLetterReason"):
        InvalidEvent(reason, "detail")


def _construction_reasons() -> list[tuple[str, ast.expr]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else None
                if name in RAISERS:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.append((where, node.args[0] if node.args else node))
    return found


def test_no_raise_site_spells_a_reason_as_a_string() -> None:
    found = _construction_reasons()
    assert len(found) > 30  # the walk does find the raise sites
    literal = [where for where, arg in found if isinstance(arg, ast.Constant)]
    assert literal == []
