"""Structured logging: structlog over the standard library, with a secret redactor.

Configured once by the CLI. Records from third-party libraries (Faust, mode,
confluent-kafka, ccxt, psycopg) are routed through the same processor chain, so
every line has one format and no secret reaches a log file.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SECRET_KEY = re.compile(r"(key|secret|token|password|passphrase|signature|conninfo)", re.I)
# key=value, key: value, 'key': 'value', "apiKey": "value", api-key: value (a logged config dict).
SECRET_INLINE = re.compile(
    r"(?i)(?P<key>[\"']?\b(?:password|passwd|secret|api[_-]?key|apikey|token|passphrase|"
    r"private[_-]?key)\b[\"']?)(?P<sep>\s*[=:]\s*)(?P<value>'[^']*'|\"[^\"]*\"|[^\s,}]+)"
)
REDACTED = "***"


def redact_text(text: str) -> str:
    """Mask ``password=...``-style fragments inside free text."""
    return SECRET_INLINE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", text)


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask values under secret-looking keys and inline secrets."""
    for key in list(event_dict):
        value = event_dict[key]
        if key != "event" and SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
    return event_dict


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog and the stdlib root logger once."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # not cached: a module's logger keeps following the configuration (in-process CLI
        # runs in the tests, then structlog.testing.capture_logs); no hot path logs per event
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for chatty in QUIET_LIBRARIES:  # one INFO line per registry request otherwise
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


QUIET_LIBRARIES = ("httpx", "httpx2", "httpcore")
"""HTTP client libraries logged at WARNING and above only."""


def get_logger(component: str) -> structlog.stdlib.BoundLogger:
    """A logger bound to a component name."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(component).bind(component=component)
    return logger
