"""The Faust worker on the real broker: lifecycle, risk decisions, dead letters, restart digest."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from benchmarks import synthetic as syn
from benchmarks.harness import Pipeline
from schemas.avro_record import AvroRecord
from schemas.records.arb import Lifecycle
from schemas.records.arb import Opportunity
from schemas.records.arb import SpreadKind
from schemas.records.dlq import DeadLetter
from schemas.records.dlq import DeadLetterReason
from schemas.records.ops import ControlAction
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.records.risk import RiskReasonCode as Code
from schemas.records.stream import SequencedBatch
from schemas.topics import ARB_OPPORTUNITY
from schemas.topics import DLQ_MD
from schemas.topics import MD_BOOK
from schemas.topics import MD_FUNDING
from schemas.topics import OPS_CONTROL
from schemas.topics import RISK_DECISION
from streams.digest import digest_at_cut
from streams.digest import form_at_cut
from streams.digest import read_cut
from streams.digest import read_digest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = 1_767_225_600_000
POOR = "ex-poor"


Items = list[tuple[str, AvroRecord]]


def divergence(asset: str, t: int, long_venue: str = "ex-a", short_venue: str = "ex-b") -> Items:
    """Two perps of ``asset``: funding 1 bp vs 20 bp per 8 h, equal books: a PERP_PERP carry."""
    symbol = f"{asset}/USDT:USDT"
    return [
        (MD_FUNDING, syn.funding(long_venue, symbol, "0.0001", t, 1)),
        (MD_FUNDING, syn.funding(short_venue, symbol, "0.002", t, 1)),
        (MD_BOOK, syn.book(long_venue, symbol, "100", t + 1, 1)),
        (MD_BOOK, syn.book(short_venue, symbol, "100", t + 2, 1)),
    ]


def control(
    action: ControlAction, t: int, name: str | None = None, value: str | None = None
) -> Items:
    return [(OPS_CONTROL, syn.control(action, t, name=name, value=value))]


@pytest.fixture
def pipeline(kafka_bootstrap: str, schema_registry_url: str) -> Iterator[Pipeline]:
    settings = {
        "market": {"min_eval_interval_ms": 0},
        "risk": {"balances_quote": {POOR: "1"}},
    }
    with Pipeline(kafka_bootstrap, schema_registry_url, **settings) as p:
        p.start()
        yield p


def _decision_for(p: Pipeline, asset: str) -> RiskDecision:
    def found(seen: list[tuple[str, AvroRecord]]) -> bool:
        return any(_asset_of(r, seen) == asset for _, r in seen if isinstance(r, RiskDecision))

    seen = p.collect([RISK_DECISION, ARB_OPPORTUNITY], found, timeout_s=40)
    decisions = [r for _, r in seen if isinstance(r, RiskDecision) and _asset_of(r, seen) == asset]
    assert decisions, f"no decision for {asset}; log:\n{p.log_tail()}"
    assert len(decisions) == 1
    return decisions[0]


def _asset_of(decision: RiskDecision, seen: list[tuple[str, AvroRecord]]) -> str | None:
    return decision.legs[0].instrument.symbol.partition("/")[0] if decision.legs else None


def _codes(decision: RiskDecision) -> set[Code]:
    return {reason.code for reason in decision.reasons}


def test_lifecycle_risk_decisions_and_dead_letters(pipeline: Pipeline) -> None:
    p = pipeline
    garbage = b"\x00\x7f\xff\xff\xf0not avro"
    p.publish_raw(MD_BOOK, garbage, b"AAA")
    p.publish(divergence("AAA", T0))
    approved = _decision_for(p, "AAA")
    assert approved.outcome is RiskOutcome.APPROVED, approved.reasons
    assert approved.approved_size_base > 0

    # each limit kind, one asset each: set the limit, open an opportunity, restore the limit
    cases = [
        ("BBB", Code.KILL_SWITCH_ENGAGED, None, None),
        ("CCC", Code.SYMBOL_LIMIT_EXCEEDED, "max_symbol_notional_quote", "1"),
        ("DDD", Code.VENUE_LIMIT_EXCEEDED, "max_venue_notional_quote", "1"),
        ("EEE", Code.ASSET_LIMIT_EXCEEDED, "max_asset_notional_quote", "1"),
        ("FFF", Code.TOTAL_LIMIT_EXCEEDED, "max_total_notional_quote", "1"),
        ("GGG", Code.MAX_CONCURRENT_EXCEEDED, "max_concurrent", "1"),
        ("HHH", Code.INSUFFICIENT_BALANCE, None, None),
    ]
    defaults = {
        "max_symbol_notional_quote": "50000",
        "max_venue_notional_quote": "100000",
        "max_asset_notional_quote": "100000",
        "max_total_notional_quote": "250000",
        "max_concurrent": "10",
    }
    t = T0 + 1_000
    for asset, code, limit, value in cases:
        t += 1_000
        if code is Code.KILL_SWITCH_ENGAGED:
            p.publish(control(ControlAction.KILL_SWITCH_ENGAGE, t))
        elif limit is not None:
            p.publish(control(ControlAction.LIMIT_CHANGE, t, limit, value))
        time.sleep(0.3)  # let the control command reach the risk sequencer first
        venues = (POOR, "ex-b") if code is Code.INSUFFICIENT_BALANCE else ("ex-a", "ex-b")
        p.publish(divergence(asset, t + 10, *venues))
        decision = _decision_for(p, asset)
        assert decision.outcome is RiskOutcome.REJECTED, (asset, decision)
        assert code in _codes(decision), (code, decision.reasons)
        assert decision.approved_size_base == 0
        if code is Code.KILL_SWITCH_ENGAGED:
            p.publish(control(ControlAction.KILL_SWITCH_RELEASE, t + 20))
        elif limit is not None:
            p.publish(control(ControlAction.LIMIT_CHANGE, t + 20, limit, defaults[limit]))

    # stale: the risk clock moves an hour ahead; an opportunity timed before it is stale
    t += 1_000
    p.publish(control(ControlAction.PARAMETER_CHANGE, t + 3_600_000, "noop", "1"))
    time.sleep(0.3)
    p.publish(divergence("III", t))
    assert Code.STALE_MARKET_DATA in _codes(_decision_for(p, "III"))

    # AAA: an update (a book moves), then the funding converges and the opportunity closes
    p.publish([(MD_BOOK, syn.book("ex-a", "AAA/USDT:USDT", "100.01", T0 + 500, 2))])
    p.publish([(MD_FUNDING, syn.funding("ex-b", "AAA/USDT:USDT", "0.0001", T0 + 600, 2))])

    def closed(seen: list[tuple[str, AvroRecord]]) -> bool:
        return any(
            isinstance(r, Opportunity) and r.base_asset == "AAA" and r.lifecycle is Lifecycle.CLOSED
            for _, r in seen
        )

    seen = p.collect([ARB_OPPORTUNITY, DLQ_MD], closed, timeout_s=30)
    aaa = [r for _, r in seen if isinstance(r, Opportunity) and r.base_asset == "AAA"]
    assert [r.lifecycle for r in aaa] == [Lifecycle.OPENED, Lifecycle.UPDATED, Lifecycle.CLOSED]
    assert {r.kind for r in aaa} == {SpreadKind.PERP_PERP}
    assert len({r.opportunity_id for r in aaa}) == 1
    opened = aaa[0]
    assert [leg.instrument.exchange for leg in opened.legs] == ["ex-a", "ex-b"]
    assert opened.net_apr_bps > Decimal(1000)
    for asset, *_ in cases:
        lifecycle = [
            r.lifecycle for _, r in seen if isinstance(r, Opportunity) and r.base_asset == asset
        ]
        assert lifecycle == [Lifecycle.OPENED], (asset, lifecycle)

    letters = [r for _, r in seen if isinstance(r, DeadLetter)]
    assert len(letters) == 1
    assert letters[0].raw == garbage
    assert letters[0].source_topic == p.prefix + MD_BOOK
    assert letters[0].reason is DeadLetterReason.UNKNOWN_SCHEMA_ID
    assert p.worker is not None
    assert p.worker.poll() is None


def _feed(p: Pipeline, events: Items, batch: int, pause_s: float) -> None:
    for i in range(0, len(events), batch):
        p.publish(events[i : i + batch])
        time.sleep(pause_s)


def _wait_for_progress(p: Pipeline, minimum: int, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document = read_digest(p.settings.digest_path) if p.settings.digest_path else None
        if document and sum(document["cut"].get(p.settings.md_sequenced, {}).values()) >= minimum:
            return document
        time.sleep(0.1)
    raise TimeoutError(f"no progress; log:\n{p.log_tail()}")


def _differences(live: Any, replayed: Any, path: str = "") -> list[str]:
    """Where two canonical state forms differ (paths and both values, the first few)."""
    if isinstance(live, dict) and isinstance(replayed, dict):
        out = []
        for key in sorted(set(live) | set(replayed)):
            out += _differences(live.get(key), replayed.get(key), f"{path}/{key}")
        return out[:8]
    if live != replayed:
        return [f"{path}: live {str(live)[:300]} replay {str(replayed)[:300]}"]
    return []


def _messages_below(p: Pipeline, cut: dict[str, dict[int, int]]) -> int:
    """Market messages inside the sequenced batches below ``cut``."""
    md = {p.settings.md_sequenced: cut.get(p.settings.md_sequenced, {})}
    return sum(
        len(p.codec.decode_as(raw, SequencedBatch).values)
        for _, _offset, raw in read_cut(p.settings.bootstrap, md)
    )


@pytest.mark.xfail(
    strict=False,
    reason="open bug, seen under load only (about 1 run in 6 of the full suite): after the "
    "SIGKILL the restarted Faust worker sometimes stops fetching md-sequenced (no progress "
    "past the recovered offsets), and once the live digest differed from the replay; with the "
    "state detail now written, a failure prints where the states differ",
)
def test_restart_mid_stream_digest_equals_replay(
    kafka_bootstrap: str, schema_registry_url: str
) -> None:
    events = syn.random_walk(3000, step_ms=50)
    with Pipeline(
        kafka_bootstrap, schema_registry_url, digest_interval_s=0.3, digest_detail=True
    ) as p:
        p.start()
        feeder = threading.Thread(target=_feed, args=(p, events, 100, 0.2))
        feeder.start()
        before = _wait_for_progress(p, minimum=10)  # sequenced batches of about 100 events
        p.crash()  # mid-stream: the feeder is still publishing, the worker still processing
        feeder.join()
        p.start()
        live = p.settled_digest()
        processed = _messages_below(p, before["cut"])
        assert processed < len(events), "the crash came after the stream ended"
        replayed = digest_at_cut(kafka_bootstrap, schema_registry_url, live["cut"], p.settings)
        sequenced = _messages_below(p, live["cut"])
        print(
            f"\nrestart: {sequenced} sequenced md messages for {len(events)} published "
            f"({sequenced - len(events)} redelivered); digest {live['digest'][:16]}"
        )
        assert sequenced >= len(events)
        if live["digest"] != replayed:
            want = form_at_cut(kafka_bootstrap, schema_registry_url, live["cut"], p.settings)
            pytest.fail(f"state differs from the replay: {_differences(live['form'], want)}")
