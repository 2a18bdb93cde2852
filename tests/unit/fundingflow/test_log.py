from __future__ import annotations

import pytest

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


def test_a_logged_config_dict_has_its_secrets_masked() -> None:
    text = "{'apiKey': 'AKIA123456', 'secret': 'zzz-secret', 'enableRateLimit': True}"
    masked = redact_text(text)
    assert "AKIA123456" not in masked
    assert "zzz-secret" not in masked
    assert "'enableRateLimit': True" in masked


def test_words_that_merely_contain_a_secret_word_are_kept() -> None:
    assert redact_text("secretary=ok tokens_used=3") == "secretary=ok tokens_used=3"


def test_http_client_request_lines_are_not_logged_at_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from fundingflow.log import configure_logging

    configure_logging("INFO", True)  # its handler writes to this test's captured stderr
    logging.getLogger("httpx2").info("HTTP Request: POST http://registry/subjects")
    logging.getLogger("httpx2").warning("registry slow")
    logging.getLogger("fundingflow.executor").info("reconciled")
    err = capsys.readouterr().err
    assert "HTTP Request" not in err
    assert "registry slow" in err
    assert "reconciled" in err
