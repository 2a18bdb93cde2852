"""``fundingflow scan``: JSON rows, and the best candidates with reasons when none opens."""

from __future__ import annotations

import json
from decimal import Decimal

from fundingflow.scan import TABLE_COLUMNS
from fundingflow.scan import ScanRow
from fundingflow.scan import scan
from fundingflow.scan import table_rows


def _row() -> ScanRow:
    return ScanRow(
        type="SPOT_PERP",
        asset="BTC",
        long_leg="a",
        short_leg="b",
        funding_apr_long=None,
        funding_apr_short=Decimal("0.1"),
        net_apr=Decimal("0.05"),
        net_edge_bps=Decimal("3"),
        break_even_hours=None,
        max_size_base=Decimal("1"),
        max_notional_quote=Decimal("100"),
        blocked_by=("net APR below entry",),
    )


def test_as_json_of_a_slots_row_has_decimals_as_strings() -> None:
    doc = _row().as_json()
    assert doc["net_apr"] == "0.05"
    assert doc["funding_apr_long"] is None
    assert doc["blocked_by"] == ["net APR below entry"]
    json.dumps(doc)


def test_sim_scan_shows_best_candidates_with_why_they_do_not_open() -> None:
    rows = scan(["sim"], ["BTC", "ETH"])
    assert rows, "the sim always has candidates"
    assert all(r.blocked_by for r in rows if r.net_apr < 0)
    assert any("below entry" in reason for r in rows for reason in r.blocked_by)
    cells = table_rows(rows)
    assert len(cells[0]) == len(TABLE_COLUMNS)
    assert TABLE_COLUMNS[-1] == "why not open"
