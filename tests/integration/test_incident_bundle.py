"""`fundingflow incident export | replay` on the real broker and registry, on isolated topics.

The test fills a namespace itself: instrument facts and a kill switch stamped an hour before the
window, market data in and after the window, and the opportunities and decisions the pure
reducers make of that input (as the worker would publish them), each message stamped with its
event time. The export of the window, replayed, must give the same outputs; a bundle without
the state in force (the guard's twin) must not.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from benchmarks import synthetic as syn
from benchmarks.isolation import create_prefixed_topics
from benchmarks.isolation import delete_topics
from fundingflow.cli import main
from processors.market_state import MarketReducer
from processors.risk_state import RiskReducer
from processors.settings import MarketSettings
from processors.settings import RiskSettings
from schemas.avro_record import AvroRecord
from schemas.codec import Codec
from schemas.records.arb import Opportunity
from schemas.records.common import Envelope
from schemas.records.common import InstrumentRef
from schemas.records.common import MarketType
from schemas.records.md import FeeSource
from schemas.records.md import InstrumentFacts
from schemas.records.ops import ControlAction
from schemas.records.risk import RiskDecision
from schemas.records.risk import RiskOutcome
from schemas.registry import ConfluentRegistry
from schemas.topics import by_name
from schemas.topics import key_for
from schemas.topics import partition_for
from schemas.topics import partition_key_for
from streams.bundle import read_bundle
from streams.bundle import write_bundle

pytestmark = pytest.mark.integration

TOPICS = (
    "md.instrument",
    "md.book",
    "md.funding",
    "arb.opportunity",
    "risk.decision",
    "ops.control",
)
STEP_MS = 50
IN_WINDOW = 600
AFTER = 200


def _facts(venue: str, symbol: str, t: int) -> InstrumentFacts:
    return InstrumentFacts(
        envelope=Envelope(
            event_id=f"facts-{venue}-{symbol}-{t}", event_time_ms=t, ingest_time_ms=t
        ),
        instrument=InstrumentRef(exchange=venue, symbol=symbol, market_type=MarketType.PERP),
        venue_symbol=symbol.replace("/", "").replace(":USDT", ""),
        settle="USDT",
        contract_size_base=Decimal("0.1"),
        amount_step=Decimal(1),
        min_amount=Decimal(1),
        maker_fee=Decimal("0.0001"),
        taker_fee=Decimal("0.0003"),
        fee_source=FeeSource.VENUE,
    )


class Scenario:
    """What the test publishes into its namespace, and the window around it."""

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.end_ms = start_ms + IN_WINDOW * STEP_MS
        venues = ("ex-a", "ex-b", "ex-c")
        assets = ("AAA", "BBB")
        early = start_ms - 3_600_000
        # Facts an hour before the window, then a newer version of one: the latest is in force.
        self.facts = [_facts(v, f"{a}/USDT:USDT", early) for v in venues for a in assets]
        stale = _facts("ex-a", "AAA/USDT:USDT", early - 1000)
        self.inputs: list[tuple[str, AvroRecord]] = [("md.instrument", stale)]
        self.inputs += [("md.instrument", f) for f in self.facts]
        self.inputs.append(("ops.control", syn.control(ControlAction.KILL_SWITCH_ENGAGE, early)))
        self.market = syn.random_walk(
            IN_WINDOW + AFTER,
            assets=assets,
            venues=venues,
            start_ms=start_ms,
            step_ms=STEP_MS,
            funding_every=5,
            seed=3,
        )
        release = syn.control(ControlAction.KILL_SWITCH_RELEASE, start_ms + 15_025)
        self.inputs += list(self.market)
        self.inputs.append(("ops.control", release))
        self.outputs = self._outputs(release.envelope.event_time_ms)

    def _outputs(self, release_ms: int) -> list[tuple[str, AvroRecord]]:
        market = MarketReducer(MarketSettings())
        for f in self.facts:
            market.apply(f)
        risk = RiskReducer(RiskSettings())
        risk.apply(syn.control(ControlAction.KILL_SWITCH_ENGAGE, self.start_ms - 3_600_000))
        released = False
        out: list[tuple[str, AvroRecord]] = []
        for _, record in self.market:
            if not released and record.envelope.event_time_ms > release_ms:
                risk.apply(syn.control(ControlAction.KILL_SWITCH_RELEASE, release_ms))
                released = True
            for opportunity in market.apply(record).opportunities:
                out.append(("arb.opportunity", opportunity))
                _, decision = risk.apply(opportunity)
                if decision is not None:
                    out.append(("risk.decision", decision))
        return out


def _timestamp(record: AvroRecord) -> int:
    """Every message of the scenario is stamped with its event time."""
    return int(record.envelope.event_time_ms)  # type: ignore[attr-defined]


def _publish(bootstrap: str, codec: Codec, ns: str, items: list[tuple[str, AvroRecord]]) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    for topic, record in items:
        partition = partition_for(partition_key_for(record), by_name(topic).partitions)
        producer.produce(
            f"{ns}.{topic}",
            codec.encode(record, topic),
            key_for(record),
            partition=partition,
            timestamp=_timestamp(record),
        )
        producer.poll(0)
    assert producer.flush(30) == 0


@pytest.fixture(scope="module")
def filled(kafka_bootstrap: str, schema_registry_url: str) -> Iterator[tuple[str, Scenario]]:
    ns = f"ti{uuid.uuid4().hex[:10]}"
    created = create_prefixed_topics(kafka_bootstrap, f"{ns}.", TOPICS)
    # Recent enough that the broker's retention keeps it for the test's run.
    scenario = Scenario((int(time.time() * 1000) - 1_800_000) // 1000 * 1000)
    codec = Codec(ConfluentRegistry(schema_registry_url))
    _publish(kafka_bootstrap, codec, ns, scenario.inputs + scenario.outputs)
    try:
        yield ns, scenario
    finally:
        delete_topics(kafka_bootstrap, created)


def _export(ns: str, scenario: Scenario, out: Path, *extra: str) -> int:
    around = scenario.start_ms + (scenario.end_ms - scenario.start_ms) // 2
    width = f"{scenario.end_ms - scenario.start_ms}ms"
    argv = ["incident", "export", "--around", str(around), "--window", width]
    argv += ["--namespace", ns, "--topics", ",".join(TOPICS), "--out", str(out), *extra]
    if "--app-id" not in extra:  # no worker ran here: a live worker's digest must not be read
        argv += ["--app-id", f"{ns}-no-worker"]
    return main(argv)


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out
    document: dict[str, Any] = json.loads(out)
    return document


def test_an_exported_window_replays_with_no_difference(
    filled: tuple[str, Scenario], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns, scenario = filled
    out = tmp_path / "incident.tar"
    assert _export(ns, scenario, out, "--json") == 0
    manifest = _json(capsys)
    in_window = [r for _, r in scenario.outputs if _timestamp(r) < scenario.end_ms]
    opportunities = sum(isinstance(r, Opportunity) for r in in_window)
    decisions = [r for r in in_window if isinstance(r, RiskDecision)]
    assert (
        manifest["counts"]
        == {
            "md.instrument": len(scenario.facts),  # the latest of each instrument, an hour old
            "md.book": sum(t == "md.book" for t, _ in scenario.market[:IN_WINDOW]),
            "md.funding": sum(t == "md.funding" for t, _ in scenario.market[:IN_WINDOW]),
            "arb.opportunity": opportunities,
            "risk.decision": len(decisions),
            "ops.control": 2,  # the kill switch in force and its release in the window
        }
    )
    outcomes = {d.outcome for d in decisions}
    assert outcomes == {RiskOutcome.APPROVED, RiskOutcome.REJECTED}, "scenario too weak"
    assert opportunities > 10

    assert main(["incident", "replay", str(out), "--json"]) == 0
    report = _json(capsys)
    assert report["identical"] is True
    rows = {row["topic"]: row for row in report["topics"]}
    assert rows["arb.opportunity"]["same"] == opportunities
    assert rows["risk.decision"]["same"] == len(decisions)

    # The same through Kafka: md.* re-published into a fresh namespace and read back.
    into = f"{ns}-replay"
    try:
        assert main(["incident", "replay", str(out), "--into", into, "--json"]) == 0
        report = _json(capsys)
        assert report["identical"] is True
        assert report["republished"]["md.book"] == f"{into}.md.book"
        # A namespace that is not fresh is refused.
        assert main(["incident", "replay", str(out), "--into", into]) == 1
        assert "is not fresh" in capsys.readouterr().err
    finally:
        delete_topics(filled_bootstrap(), [f"{into}.{t}" for t in TOPICS if t.startswith("md.")])


def filled_bootstrap() -> str:
    from fundingflow.settings import load_settings

    return load_settings().kafka.bootstrap


def test_a_changed_decision_is_reported_and_fails(
    filled: tuple[str, Scenario], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns, scenario = filled
    out = tmp_path / "incident.tar"
    assert _export(ns, scenario, out) == 0
    capsys.readouterr()
    bundle, _ = read_bundle(out)
    messages = bundle.messages["risk.decision"]
    first = messages[0]
    flipped = "APPROVED" if first.value["outcome"] == "REJECTED" else "REJECTED"
    messages[0] = replace(first, value={**first.value, "outcome": flipped})
    changed = tmp_path / "changed.tar"
    write_bundle(bundle, changed)
    assert main(["incident", "replay", str(changed), "--json"]) == 1
    report = _json(capsys)
    rows = {row["topic"]: row for row in report["topics"]}
    assert rows["risk.decision"]["differ"] == 1
    assert rows["arb.opportunity"]["differ"] == 0


def test_twin_without_the_state_in_force_the_replay_differs(
    filled: tuple[str, Scenario],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The guard: facts and control commands from before the window are exported. Without it
    the replay sizes without the facts and decides without the kill switch, and differs."""
    import streams.incident_export as export_module

    monkeypatch.setattr(export_module, "FROM_BEGINNING", frozenset())
    ns, scenario = filled
    out = tmp_path / "incident.tar"
    assert _export(ns, scenario, out) == 0
    capsys.readouterr()
    assert main(["incident", "replay", str(out), "--json"]) == 1
    rows = {row["topic"]: row for row in _json(capsys)["topics"]}
    assert rows["arb.opportunity"]["differ"] > 0
    assert rows["risk.decision"]["differ"] > 0


def test_a_tampered_bundle_is_refused_with_a_clear_error(
    filled: tuple[str, Scenario], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns, scenario = filled
    out = tmp_path / "incident.tar"
    assert _export(ns, scenario, out) == 0
    data = bytearray(out.read_bytes())
    data[len(data) // 3] ^= 0x10
    tampered = tmp_path / "tampered.tar"
    tampered.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["incident", "replay", str(tampered)]) == 1
    err = capsys.readouterr().err
    assert "error: corrupt bundle" in err
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(out.read_bytes()[:-5000])
    assert main(["incident", "replay", str(truncated)]) == 1
    assert "bundle" in capsys.readouterr().err


def test_bad_export_arguments_are_refused_and_write_nothing(
    filled: tuple[str, Scenario], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ns, scenario = filled
    existing = tmp_path / "exists.tar"
    existing.write_bytes(b"keep")
    assert _export(ns, scenario, existing) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep"
    assert _export(ns, scenario, existing, "--force") == 0
    assert read_bundle(existing)[1]["counts"]["md.instrument"] == len(scenario.facts)

    out = tmp_path / "new.tar"
    base = ["incident", "export", "--around", str(scenario.start_ms), "--out", str(out)]
    assert main([*base, "--window", "0s"]) == 2
    assert "empty" in capsys.readouterr().err
    assert main([*base, "--window", "-5m"]) == 2
    assert main([*base, "--window", "10m", "--topics", "md.nope"]) == 1
    assert "unknown topic md.nope" in capsys.readouterr().err
    assert main([*base, "--window", "10m", "--namespace", f"{ns}-absent"]) == 1
    assert "none of the topics exists on the broker" in capsys.readouterr().err
    named = [*base, "--window", "10m", "--namespace", f"{ns}-absent", "--topics", "md.book"]
    assert main(named) == 1
    assert f"topic {ns}-absent.md.book does not exist" in capsys.readouterr().err
    assert main(["incident", "export", "--around", "yesterday", "--out", str(out)]) == 2
    assert list(tmp_path.iterdir()) == [existing]
