"""Settings tests start from the defaults, whatever FUNDINGFLOW_* the shell exports."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FUNDINGFLOW_"):
            monkeypatch.delenv(name)
