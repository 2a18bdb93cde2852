"""Execution plans on the paper venues: the order flags reach the sim's matching engine through
the gateway, and the plans' children are what the venue sees.

Each test runs ``fundingflow execute`` (subprocess, real Kafka under a test prefix, scratch
PostgreSQL schema) with a plan from its settings (``FUNDINGFLOW_EXECUTOR__PLAN`` ...). The sim
books are still (the world stays at its epoch): sim-okx, where leg 0 buys, asks 118.5
contracts (11.85 ETH, contract 0.1) at 3300.45, then 81.8 at 3300.61 and 255.2 at 3300.77.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.ccxt_venue import CcxtVenue
from connectors.config import ConnectorSettings
from connectors.order_venue import CcxtOrderVenue
from connectors.sim.remote import RemoteSimExchange
from connectors.venues import profile_for
from executors.engine import UNSAFE_NO_LOT_ENV
from processors.execution_plans import LegTerms
from processors.execution_plans import PlanSpec
from processors.execution_plans import plan
from processors.execution_plans import volume_profile
from processors.lots import Lot
from processors.records import book_of
from schemas.codec import Codec
from schemas.records.common import Side
from schemas.records.execution import PairUpdate
from schemas.records.execution import PlanKind
from schemas.registry import ConfluentRegistry
from tests.paper_venues import Run
from tests.paper_venues import executor_run
from tests.paper_venues import paper_venues
from tests.paper_venues import perp
from tests.paper_venues import start_executor

D = Decimal
OKX = "sim-okx"
ETH = "ETH/USDT:USDT"
TERMINAL = ("FILLED", "CANCELED", "REJECTED", "EXPIRED")


@pytest.fixture
def run(
    postgres_conninfo: str, kafka_bootstrap: str, schema_registry_url: str, tmp_path: Path
) -> Iterator[Run]:
    with executor_run(
        "explan", postgres_conninfo, kafka_bootstrap, schema_registry_url, tmp_path
    ) as run:
        yield run


def _env(plan: dict[str, str], **extra: str) -> dict[str, str]:
    return {**{f"FUNDINGFLOW_EXECUTOR__{k.upper()}": v for k, v in plan.items()}, **extra}


def _execute(run: Run, plan: dict[str, str], **extra: str) -> int:
    proc = start_executor(
        run.venues.url, run.prefix, run.schema.name, run.log, "--until-idle", "1.5",
        **_env(plan, **extra),
    )  # fmt: skip
    return proc.wait(timeout=120)


def _orders(run: Run, leg: int = 0) -> list[dict[str, Any]]:
    """The leg's entry orders in the ledger, by slice, with the time each became terminal."""
    with run.schema.connect() as conn:
        rows = conn.execute(
            "SELECT o.slice_index, o.amount_base, o.price_quote, o.order_type, o.time_in_force,"
            " o.status, o.filled_base, o.created_ms, o.detail, o.client_order_id,"
            " (SELECT min(t.recorded_ms) FROM order_transitions t"
            "  WHERE t.client_order_id = o.client_order_id AND t.to_status = ANY(%s))"
            " FROM orders o WHERE o.leg_index = %s AND o.purpose = 'ENTRY'"
            " ORDER BY o.slice_index",
            (list(TERMINAL), leg),
        ).fetchall()
    names = ["slice", "size", "price", "type", "tif", "status", "filled", "created_ms",
             "detail", "cid", "terminal_ms"]  # fmt: skip
    return [dict(zip(names, r, strict=True)) for r in rows]


def _pair(run: Run, signal: str) -> PairUpdate:
    with run.schema.connect() as conn:
        row = conn.execute("SELECT state FROM pairs WHERE signal_id = %s", (signal,)).fetchone()
    assert row is not None
    return Codec(ConfluentRegistry(run.registry)).decode_as(bytes(row[0]), PairUpdate)


def _sim_orders(run: Run, venue: str = OKX) -> list[Any]:
    return list(run.venues.exchanges[venue].order_manager.orders.values())


def _book_asks(run: Run) -> list[tuple[Decimal, Decimal]]:
    """sim-okx's ask levels now, (price, size in base units)."""
    exchange = run.venues.exchanges[OKX]
    book = asyncio.run_coroutine_threadsafe(
        exchange.fetch_order_book(ETH, 20), run.venues._loop
    ).result(10)
    size = D(str(exchange.world.scenario.markets[(OKX, ETH)].contract_size))
    return [(D(str(p)), D(str(a)) * size) for p, a in book["asks"]]


def test_a_fok_that_cannot_fill_entirely_fills_nothing(run: Run) -> None:
    # band 0: the limit is 3300.45, where only the best level's 11.85 ETH is offered
    (signal,) = run.decide(1, size="15", price="3300.45")
    assert _execute(run, {"plan": "FOK", "entry_band_bps": "0"}) == 0, run.log.read_text()[-3000:]
    (entry,) = _orders(run)
    assert (entry["tif"], entry["size"], entry["filled"]) == ("FOK", D("15"), D(0))
    assert entry["status"] in ("CANCELED", "EXPIRED")
    (venue_order,) = _sim_orders(run)
    assert (venue_order.time_in_force, venue_order.filled_lots) == ("FOK", 0)  # an IOC: 118.5
    assert run.pairs() == {signal: "REJECTED"}
    assert run.venues.net_positions() == {}


def test_a_post_only_that_would_cross_is_rejected_retried_passive_and_ends_terminal(
    run: Run,
) -> None:
    # a buy at 3301 would take the 3300.45 ask: the venue refuses it as post-only
    (signal,) = run.decide(1, size="0.05", price="3301")
    plan = {"plan": "POST_ONLY", "plan_duration_ms": "800", "post_only_retries": "1"}
    assert _execute(run, plan) == 0, run.log.read_text()[-3000:]
    crossing, passive = _orders(run)
    assert (crossing["tif"], crossing["price"], crossing["status"]) == (
        "POST_ONLY", D("3301"), "REJECTED",
    )  # fmt: skip
    assert "OrderImmediatelyFillable" in (crossing["detail"] or "")
    assert passive["price"] == D("3300.21")  # the best bid when planned: it rests as maker
    assert (passive["status"], passive["filled"]) == ("CANCELED", D(0))  # at the deadline
    assert passive["terminal_ms"] >= _pair(run, signal).entry_plan.deadline_ms  # type: ignore[union-attr]
    (resting,) = _sim_orders(run)  # the crossing one never reached the book
    assert (resting.time_in_force, resting.status) == ("PO", "canceled")
    assert run.pairs() == {signal: "REJECTED"}
    assert run.venues.net_positions() == {}


def test_an_iceberg_shows_at_most_its_display_size_and_fills_the_whole_target(run: Run) -> None:
    (signal,) = run.decide(1, size="0.05")
    plan = {"plan": "ICEBERG", "plan_display_base": "0.02", "plan_duration_ms": "60000"}
    assert _execute(run, plan) == 0, run.log.read_text()[-3000:]
    children = _orders(run)
    assert [c["size"] for c in children] == [D("0.02"), D("0.02"), D("0.01")]
    assert {c["status"] for c in children} == {"FILLED"}
    # each refill is sent only after the previous child settled: never two shown at once
    for before, after in itertools.pairwise(children):
        assert after["created_ms"] >= before["terminal_ms"]
    contract = D("0.1")
    assert all(D(str(o.lots)) * D("0.1") * contract <= D("0.02") for o in _sim_orders(run))
    assert run.venues.exchanges[OKX].order_manager.open_ids == []
    assert run.pairs() == {signal: "HEDGED"}
    assert run.venues.net_positions() == {(OKX, ETH): D("0.05"), ("sim-bybit", ETH): D("-0.05")}


def test_a_twap_sends_its_slices_at_their_times_across_an_executor_kill(run: Run) -> None:
    (signal,) = run.decide(1, size="0.05")
    plan = {"plan": "TWAP", "plan_slices": "3", "plan_duration_ms": "3000"}
    proc = start_executor(
        run.venues.url, run.prefix, run.schema.name, run.log, **_env(plan)
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _orders(run) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.kill()  # SIGKILL with the first slice sent, the next due in a second
    proc.wait(10)
    assert len(_orders(run)) == 1, run.log.read_text()[-3000:]
    assert _execute(run, plan) == 0, run.log.read_text()[-3000:]
    children = _orders(run)
    entry = _pair(run, signal).entry_plan
    assert entry is not None
    releases = [c.release_ms for c in entry.children]
    assert [c["size"] for c in children] == [D("0.02"), D("0.02"), D("0.01")]
    assert releases == [entry.start_ms, entry.start_ms + 1000, entry.start_ms + 2000]
    for child, release in zip(children, releases, strict=True):
        assert child["created_ms"] >= release  # never before its time
    assert [c["slice"] for c in children] == [0, 1, 2]
    assert max(run.venues.client_id_counts().values()) == 1
    assert run.pairs() == {signal: "HEDGED"}
    assert run.venues.net_positions() == {(OKX, ETH): D("0.05"), ("sim-bybit", ETH): D("-0.05")}
    hedges = _orders(run, leg=1)
    assert [h["size"] for h in hedges] == [D("0.02"), D("0.02"), D("0.01")]  # one per slice


def test_levels_send_one_child_per_book_level_up_to_the_target(run: Run) -> None:
    asks = _book_asks(run)
    (signal,) = run.decide(1, size="25")
    assert _execute(run, {"plan": "LEVELS", "plan_slices": "0"}) == 0, run.log.read_text()[-3000:]
    children = _orders(run)
    left, expected = D("25"), []
    for price, size in asks:
        if left <= 0:
            break
        expected.append((price, min(size, left)))
        left -= min(size, left)
    assert [(c["price"], c["size"]) for c in children] == expected
    assert len(children) == 3
    assert {(c["type"], c["tif"], c["status"]) for c in children} == {("LIMIT", "IOC", "FILLED")}
    assert run.pairs() == {signal: "HEDGED"}


def test_twin_without_lot_rounding_the_venue_rejects_a_child(run: Run) -> None:
    run.decide(1, size="0.05")
    plan = {"plan": "TWAP", "plan_slices": "3", "plan_duration_ms": "600"}
    assert _execute(run, plan, **{UNSAFE_NO_LOT_ENV: "1"}) == 0, run.log.read_text()[-3000:]
    children = _orders(run)
    assert children[0]["size"] == D("0.016666666666666667")
    assert children[0]["status"] == "REJECTED"
    assert "multiple" in (children[0]["detail"] or "")


def test_a_vwap_is_planned_from_the_trades_the_gateway_serves() -> None:
    """The book and recent trades reach a plan through the gateway as domain records."""
    with paper_venues() as venues:
        world = venues.exchanges[OKX].world
        for _ in range(400):  # the world trades as it steps
            asyncio.run_coroutine_threadsafe(world.advance(), venues._loop).result(10)
        start = venues.now_ms

        async def read() -> tuple[Any, Any]:
            venue = CcxtOrderVenue(
                CcxtVenue(
                    RemoteSimExchange(OKX, venues.url), venue_id=OKX,
                    settings=ConnectorSettings(), profile=profile_for("sim"),
                )
            )  # fmt: skip
            try:
                return await venue.book(perp(OKX), 5), await venue.recent_trades(perp(OKX), 0)
            finally:
                await venue.close()

        book, trades = asyncio.run(read())
    assert trades, "the stepped world traded nothing"
    assert {t.instrument.symbol for t in trades} == {ETH}
    duration = start - min(t.envelope.event_time_ms for t in trades) + 1
    spec = PlanSpec(PlanKind.VWAP, slices=4, duration_ms=duration)
    terms = LegTerms(Side.BUY, Lot(D(1), D("0.01"), D("0.01")), D("0.01"), D(3300), D("3316.5"))
    entry = plan(spec, D("10"), terms, start_ms=start, book=book_of(book), trades=trades)
    weights = volume_profile(trades, 4, start, duration)
    total = sum(weights, D(0))
    assert total > 0
    assert sum(c.size_base for c in entry.children) == D("10")
    by_release = {c.release_ms: c.size_base for c in entry.children}
    for i, weight in enumerate(weights):
        share = D("10") * weight / total
        assert abs(by_release.get(start + i * duration // 4, D(0)) - share) < D("0.01")
