"""The live view's pairs table reads what the executor traded, with PnL that adds up."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from fundingflow.pairs_view import PairsView
from schemas.codec import Codec
from schemas.registry import ConfluentRegistry
from tests.event_stores import create_topics
from tests.event_stores import delete_topics
from tests.ledger_db import scratch_schema
from tests.paper_venues import EXECUTOR_TOPICS
from tests.paper_venues import Run
from tests.paper_venues import paper_venues


@pytest.fixture
def run(
    postgres_conninfo: str, kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> Iterator[Run]:
    prefix = f"t-pview-{uuid.uuid4().hex[:8]}."
    create_topics(kafka_bootstrap, prefix, EXECUTOR_TOPICS)
    with paper_venues() as venues, scratch_schema(postgres_conninfo) as schema:
        yield Run(venues, schema, prefix, kafka_bootstrap, schema_registry_url, tmp_path)
    delete_topics(kafka_bootstrap, prefix, EXECUTOR_TOPICS)


def test_the_pairs_of_this_run_and_their_pnl(run: Run) -> None:
    before = int(time.time() * 1000)
    signals = run.decide(3)
    assert run.execute() == 0
    conninfo = f"{run.schema.conninfo} options='{run.schema.options}'"
    view = PairsView(conninfo, Codec(ConfluentRegistry(run.registry)), since_ms=before)
    rows, total = view.rows()
    view.close()
    assert {r.signal for r in rows} == {s[:8] for s in signals}
    assert {r.status for r in rows} == {"HEDGED"}
    assert all(r.size_base == Decimal("0.05") for r in rows)
    assert all(r.fees_quote > 0 for r in rows)  # taker fees on both legs
    assert total is not None
    assert total.signal == "3 pairs"
    assert total.total_pnl_quote == sum(r.total_pnl_quote for r in rows)
    later = PairsView(
        conninfo, Codec(ConfluentRegistry(run.registry)), since_ms=int(time.time() * 1000) + 60_000
    )
    assert later.rows() == ([], None)  # nothing traded after that
    later.close()
