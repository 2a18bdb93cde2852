"""Secrets never logged: credentials in a log event render masked.

Guard: :func:`fundingflow.log.redact_secrets` in the processor chain that
:func:`fundingflow.log.configure_logging` builds, for structlog events and for records of
third-party stdlib loggers alike. The tests use that real configuration (restored afterwards)
with its handler's stream swapped for a buffer. The twin replaces the redactor with a
pass-through before the chain is built. Oracle: a SecretCanary-style search of the rendered
output for each canary and its 8-character prefix and suffix.
"""

from __future__ import annotations

import io
import logging
from collections.abc import MutableMapping
from typing import Any

import pytest

from fundingflow import log as fflog

pytestmark = pytest.mark.fault

API_KEY = "canary-apikey-7f3a9c01"
PASSWORD = "canary-password-5e2d8b44"
CANARIES = (API_KEY, PASSWORD)


def configured() -> io.StringIO:
    """Configure logging as the CLI does (JSON lines); the buffer its handler writes to."""
    fflog.configure_logging("INFO", json=True)
    buffer = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    return buffer


def rendered() -> str:
    """Log the canaries as structlog fields and inline in a stdlib record; the output."""
    buffer = configured()
    fflog.get_logger("connectors").info(
        "venue_connected", exchange="okx", api_key=API_KEY, password=PASSWORD
    )
    logging.getLogger("psycopg").warning("connect host=127.0.0.1 password=%s dbname=x", PASSWORD)
    return buffer.getvalue()


def leaks(text: str) -> list[str]:
    forms = {form for c in CANARIES for form in (c, c[:8], c[-8:])}
    return sorted(form for form in forms if form in text)


def test_secrets_render_masked() -> None:
    text = rendered()
    assert leaks(text) == []
    assert text.count(fflog.REDACTED) == 3
    assert '"exchange": "okx"' in text  # the event itself is logged
    assert "dbname=x" in text


def test_twin_without_the_redactor_secrets_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    def pass_through(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return event_dict

    monkeypatch.setattr(fflog, "redact_secrets", pass_through)
    text = rendered()
    assert set(leaks(text)) >= set(CANARIES)
    assert fflog.REDACTED not in text


def test_a_logged_config_dict_is_masked() -> None:
    buffer = configured()
    config = {"apiKey": API_KEY, "secret": PASSWORD, "enableRateLimit": True}
    logging.getLogger("ccxt").info("exchange config: %s", config)
    assert leaks(buffer.getvalue()) == []
