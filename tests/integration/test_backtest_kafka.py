"""``fundingflow backtest --data kafka``: a recorded range read back from the broker gives the
same result as the same records from a file (the hand-checkable market, total 34.986)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import delete_topics
from benchmarks.isolation import publish_records
from fundingflow.cli import EXIT_USAGE
from fundingflow.cli import main
from schemas.codec import Codec
from schemas.records.md import BookSnapshot
from schemas.records.md import FundingRateUpdate
from schemas.registry import ConfluentRegistry
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import MD_INSTRUMENT
from tests import backtest_market as m

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _topic(record: object) -> str:
    if isinstance(record, BookSnapshot):
        return MD_BOOK
    return MD_FUNDING if isinstance(record, FundingRateUpdate) else MD_INSTRUMENT


def test_a_kafka_range_backtests_like_the_file(
    kafka_bootstrap: str,
    schema_registry_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"bt{uuid.uuid4().hex[:8]}."
    host, port = kafka_bootstrap.rsplit(":", 1)
    registry = urlsplit(schema_registry_url)
    for name, value in {
        "FUNDINGFLOW_KAFKA__HOST": host,
        "FUNDINGFLOW_KAFKA__PORT": port,
        "FUNDINGFLOW_REGISTRY__HOST": registry.hostname or "127.0.0.1",
        "FUNDINGFLOW_REGISTRY__PORT": str(registry.port or 8081),
        "FUNDINGFLOW_STREAMS__TOPIC_PREFIX": prefix,
        "COLUMNS": "500",
        "TERMINAL_WIDTH": "500",
    }.items():
        monkeypatch.setenv(name, value)
    codec = Codec(ConfluentRegistry(schema_registry_url))
    created = create_prefixed_topics(kafka_bootstrap, prefix, [MD_BOOK, MD_FUNDING, MD_INSTRUMENT])
    try:
        publish_records(kafka_bootstrap, codec, [(_topic(r), r) for r in m.market()], prefix)
        out = tmp_path / "report"
        assert main(["backtest", "--data", "kafka", "--out", str(out), "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["pnl_quote"]["total"] == str(m.TOTAL)
        assert summary["pnl_quote"]["funding"] == str(m.FUNDING)
        assert summary["events"] == len(m.market())
        assert (out / "report.html").exists()

        # offsets bound the range as for replay: 360 books and 360 funding records are the
        # first 12 h (two venues a step), which hold one settlement
        args = ["backtest", "--data", "kafka", "--json", "--out", str(tmp_path / "half")]
        assert main([*args, "--to", "offset:360"]) == 0
        assert json.loads(capsys.readouterr().out)["pnl_quote"]["funding"] == "18.9924"

        bad = ["backtest", "--data", "kafka", "--from", "offset:9", "--to", "offset:3"]
        assert main([*bad, "--out", str(tmp_path / "bad")]) == EXIT_USAGE
        assert "inverted range" in capsys.readouterr().err
        assert not (tmp_path / "bad").exists()
    finally:
        delete_topics(kafka_bootstrap, created)
