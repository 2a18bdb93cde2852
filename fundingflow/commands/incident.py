"""``fundingflow incident export | replay``: portable incident bundles."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from fundingflow.output import err_console
from fundingflow.output import print_json
from fundingflow.output import print_table
from fundingflow.settings import load_settings
from fundingflow.settings import worker_settings
from schemas.errors import FundingflowError

app = typer.Typer(help="Incident bundles: export a time window from Kafka, replay it offline.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class ReplayDiffers(FundingflowError):  # noqa: N818 - reads as the outcome
    """The replay's outputs differ from the bundle's."""


def parse_duration_ms(text: str) -> int:
    """``10m``, ``90s``, ``1h``, ``500ms`` (a bare number is seconds) to milliseconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", text)
    if match is None:
        raise typer.BadParameter(f"--window {text!r}: expected e.g. 10m, 90s, 1h, 500ms")
    value = float(match.group(1)) * _UNITS_MS[match.group(2) or "s"]
    if value <= 0:
        raise typer.BadParameter(f"--window {text!r}: the window is empty")
    return int(value)


def parse_time_ms(text: str) -> int:
    """Epoch milliseconds, or an ISO 8601 time (UTC unless it says otherwise)."""
    stripped = text.strip()
    if re.fullmatch(r"\d{10,16}", stripped):
        return int(stripped)
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"--around {text!r}: expected epoch ms or ISO 8601, e.g. 2026-12-03T18:40:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@app.command()
def export(
    around: Annotated[str, typer.Option(help="Centre of the window: epoch ms or ISO 8601.")],
    out: Annotated[Path, typer.Option(help="Bundle file to write (a tar).")],
    window: Annotated[str, typer.Option(help="Width of the window, e.g. 10m.")] = "10m",
    topics: Annotated[
        str | None, typer.Option(help="Comma-separated catalogue topics; default: all.")
    ] = None,
    namespace: Annotated[
        str, typer.Option(help="Read <namespace>.<topic> instead of the live topics.")
    ] = "",
    app_id: Annotated[
        str | None,
        typer.Option(help="The worker whose sequenced topics give the apply order; default: ours."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write every event of [around - window/2, around + window/2) and the instrument facts and
    control state in force into one bundle file."""
    from schemas.registry import ConfluentRegistry
    from streams.bundle import Window
    from streams.bundle import write_bundle
    from streams.digest import read_digest
    from streams.digest import replay_settings
    from streams.incident_export import DEFAULT_TOPICS
    from streams.incident_export import check_topics
    from streams.incident_export import export_window

    centre = parse_time_ms(around)
    width = parse_duration_ms(window)
    chosen = check_topics(
        [t.strip() for t in topics.split(",") if t.strip()] if topics else DEFAULT_TOPICS
    )
    span = Window(centre - width // 2, centre - width // 2 + width)
    if out.exists() and not force:
        raise typer.BadParameter(f"--out {out} exists; pass --force to replace it")
    settings = load_settings()
    streams_settings = worker_settings(settings)
    registry = ConfluentRegistry(settings.registry.url)
    if app_id is not None:
        streams_settings = streams_settings.model_copy(update={"app_id": app_id})
    # The settings the worker computed with, from its digest file, else ours.
    recorded = read_digest(streams_settings.digest_path) if streams_settings.digest_path else None
    source = "this command's settings"
    if recorded is not None and recorded.get("app_id") == streams_settings.app_id:
        streams_settings = replay_settings(streams_settings, recorded)
        source = f"worker digest {streams_settings.digest_path}"
    sequenced = {
        "market": streams_settings.md_sequenced,
        "risk": streams_settings.risk_sequenced,
    }
    bundle = export_window(
        settings.kafka.bootstrap,
        registry,
        span,
        chosen,
        namespace,
        skip_absent=topics is None,
        sequenced=sequenced,
    )
    bundle.notes["settings"] = {
        "market": streams_settings.market.model_dump(mode="json"),
        "risk": streams_settings.risk.model_dump(mode="json"),
        "source": source,
    }
    manifest = write_bundle(bundle, out, force=force)
    if as_json:
        print_json({"out": str(out), **manifest})
        return
    rows = [(t, n) for t, n in manifest["counts"].items()]
    print_table(f"incident bundle {out}", ["topic", "messages"], rows)
    err_console.print(f"window [{span.start_ms}, {span.end_ms}) ms")
    notes = manifest.get("notes", {})
    for topic, count in notes.get("undecodable", {}).items():
        err_console.print(f"{topic}: {count} undecodable messages left out")
    for topic in notes.get("absent", []):
        err_console.print(f"{topic}: not on the broker, left empty")


@app.command()
def replay(
    bundle_file: Annotated[Path, typer.Argument(help="The bundle to replay.")],
    into: Annotated[
        str | None,
        typer.Option(help="Re-publish md.* into fresh <into>.<topic> topics and replay from them."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Validate a bundle, replay its input through the processors, show where outputs differ."""
    from processors.settings import MarketSettings
    from processors.settings import RiskSettings
    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry
    from streams.bundle import read_bundle
    from streams.incident_replay import replay_bundle
    from streams.incident_replay import republish

    bundle, _ = read_bundle(bundle_file)
    settings = load_settings()
    streams_settings = worker_settings(settings)
    market, risk = streams_settings.market, streams_settings.risk
    recorded = bundle.notes.get("settings", {})
    if "market" in recorded:
        market = MarketSettings.model_validate(recorded["market"])
    if "risk" in recorded:
        risk = RiskSettings.model_validate(recorded["risk"])
    names: dict[str, str] = {}
    read_back = None
    if into is not None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", into):
            raise typer.BadParameter(f"--into {into!r}: letters, digits, '.', '_', '-' only")
        codec = Codec(ConfluentRegistry(settings.registry.url))
        names, read_back = republish(bundle, settings.kafka.bootstrap, codec, into)
    report = replay_bundle(bundle, market, risk, read_back)
    report.republished = names
    if as_json:
        print_json(report.as_json())
    else:
        print_table(
            f"replay of {bundle_file}",
            ["topic", "same", "differ", "missing", "extra"],
            [(d.topic, d.same, len(d.differ), len(d.missing), len(d.extra)) for d in report.diffs],
        )
        for d in report.diffs:
            for label, ids in (("differs", d.differ), ("missing", d.missing), ("extra", d.extra)):
                for event_id in ids[:5]:
                    err_console.print(f"{d.topic} {event_id}: {label}")
    if not report.identical:
        raise ReplayDiffers("the replay differs from the bundle")
