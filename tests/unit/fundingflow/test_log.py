from __future__ import annotations

from fundingflow.log import REDACTED
from fundingflow.log import redact_secrets
from fundingflow.log import redact_text


def test_secret_keys_are_masked() -> None:
    event = {"event": "connect", "api_key": "abc", "password": "p", "exchange": "okx"}
    out = redact_secrets(None, "info", event)
    assert out["api_key"] == REDACTED
    assert out["password"] == REDACTED
    assert out["exchange"] == "okx"


def test_inline_secrets_are_masked() -> None:
    text = "host=127.0.0.1 password=hunter2 dbname=x"
    assert "hunter2" not in redact_text(text)
    assert "dbname=x" in redact_text(text)
