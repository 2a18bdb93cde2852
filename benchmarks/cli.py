"""``fundingflow bench``: benchmarks that print figures and ratios (never assert).

Registered as the ``bench`` entry point of the ``fundingflow.commands`` group (pyproject.toml).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from typing import Any

import typer

from fundingflow.output import print_json
from fundingflow.output import print_table

app = typer.Typer(help="Benchmarks: figures next to a baseline measured in the same run.")
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@app.command()
def codec(
    seconds: Annotated[float, typer.Option(min=0.05, help="Seconds per measurement.")] = 1.0,
    as_json: JsonFlag = False,
) -> None:
    """Codec encode/decode ops/s beside raw fastavro and orjson (target: >= 0.8x fastavro)."""
    from benchmarks.codec import run_codec_bench

    figures: dict[str, Any] = run_codec_bench(seconds)
    if as_json:
        print_json(figures)
        return
    rows = []
    for result in figures["results"]:
        ops = result["ops_per_s"]
        ratio = result["codec_vs_fastavro"]
        rows.append(
            (
                result["record"],
                f"{ops['codec_encode']:,}",
                f"{ops['fastavro_encode']:,}",
                f"{ratio['encode']:.2f}x",
                f"{ops['codec_decode']:,}",
                f"{ops['fastavro_decode']:,}",
                f"{ratio['decode']:.2f}x",
                f"{ops['fastavro_double_decode']:,}",
                f"{ops['orjson_decode']:,}",
            )
        )
    print_table(
        f"codec benchmark (fastavro {figures['fastavro']}, ops/s)",
        [
            "record",
            "codec enc",
            "fastavro enc",
            "ratio",
            "codec dec",
            "fastavro dec",
            "ratio",
            "fastavro dec (double)",
            "orjson dec",
        ],
        rows,
    )


OutOption = Annotated[
    Path | None, typer.Option("--out", help="Also write the JSON document to this file.")
]


def _emit(figures: dict[str, Any], as_json: bool, out: Path | None) -> bool:
    """Write ``--out``; print the one JSON document for ``--json`` (True: nothing else)."""
    if out is not None:
        out.write_text(json.dumps(figures, default=str, sort_keys=True, indent=1) + "\n")
    if as_json:
        print_json(figures)
    return as_json


def _latency_rows(name: str, per_rate: dict[str, dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for rate, f in per_rate.items():
        load = f.get("loadavg_1m") or [None]
        rows.append(
            (
                name,
                f"{int(float(rate)):,}",
                f.get("n"),
                f.get("p50"),
                f.get("p90"),
                f.get("p99"),
                f.get("p99.9"),
                f.get("max"),
                f.get("lost"),
                f.get("lag_growth_ms"),
                f.get("generator_behind_ms_max"),
                f.get("mean_batch"),
                f.get("unapplied_at_end"),
                load[-1],
            )
        )
    return rows


@app.command()
def pipeline(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller run (CI-sized).")] = False,
    ticks: Annotated[int | None, typer.Option(min=1, help="Backlog ticks.")] = None,
    rates: Annotated[
        str | None, typer.Option(help="Offered ticks/s, comma-separated (1000,5000,20000).")
    ] = None,
    seconds: Annotated[float | None, typer.Option(min=0.5, help="Seconds per rate.")] = None,
    variants: Annotated[str, typer.Option(help="faust and/or plain, comma-separated.")] = (
        "faust,plain"
    ),
    linger_ms: Annotated[
        float, typer.Option(min=0, help="Producer linger of the load generator and relay.")
    ] = 1.0,
    as_json: JsonFlag = False,
    out: OutOption = None,
) -> None:
    """Ticks/s through Kafka, the sequencer and the Faust agents, tick -> opportunity latency at
    fixed offered rates, the same topology on a plain confluent-kafka consumer, beside raw
    produce, consume and relay baselines measured in the same run."""
    from benchmarks.pipeline import run_pipeline_bench
    from fundingflow.settings import load_settings

    settings = load_settings()
    figures: dict[str, Any] = run_pipeline_bench(
        quick=quick,
        bootstrap=settings.kafka.bootstrap,
        registry_url=settings.registry.url,
        ticks=ticks,
        rates=tuple(float(r) for r in rates.split(",")) if rates else None,
        seconds=seconds,
        variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
        linger_ms=linger_ms,
        verbose=False,
    )
    if _emit(figures, as_json, out):
        return
    base = figures["baselines"]
    rows: list[tuple[Any, ...]] = [
        ("raw produce", f"{base['produce_msgs_per_s']:,}", "", base["loadavg_1m"]),
        ("raw consume", f"{base['consume_msgs_per_s']:,}", "", base["loadavg_1m"]),
        ("relay (consume -> produce)", f"{base['relay_msgs_per_s']:,}", "", base["loadavg_1m"]),
    ]
    ratios = figures["ratios"]
    for name in ("faust", "plain"):
        if name in figures:
            f = figures[name]
            ratio = ratios.get(f"{name}_to_relay")
            rows.append(
                (
                    f"{name} (backlog, end to end)",
                    f"{f['ticks_per_s']:,}",
                    ratio,
                    f["loadavg_1m"][-1],
                )
            )
    title = (
        f"pipeline throughput, msgs/s ({figures['ticks']:,} ticks, nproc {figures['nproc']}; "
        f"faust/plain {ratios.get('faust_to_plain')})"
    )
    print_table(title, ["figure", "msgs/s", "x relay", "loadavg"], rows)
    latency = _latency_rows("one hop", figures["hop_latency_ms"])
    latency += _latency_rows("relay", figures["relay_latency_ms"])
    for name in ("faust", "plain"):
        if name in figures:
            latency += _latency_rows(name, figures[name]["latency_ms"])
    print_table(
        "open-loop latency, ms from the scheduled send (one hop: produce -> consume; relay: "
        "A -> B; faust, plain: tick -> opportunity)",
        [
            "path",
            "offered/s",
            "n",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "lost",
            "lag growth",
            "gen behind",
            "mean batch",
            "unapplied",
            "loadavg",
        ],
        latency,
    )
    sustained = {n: figures[n]["sustained_per_s"] for n in ("faust", "plain") if n in figures}
    print(f"sustained (no probe lost, lag flat): {sustained}; targets: {figures['targets']}")


@app.command()
def offline(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller run: 1M events for RSS.")] = False,
    replay_events: Annotated[
        int | None, typer.Option(min=1, help="Events replayed (default 200k; quick 100k).")
    ] = None,
    events: Annotated[
        int | None, typer.Option(min=1, help="Events for the RSS figure (default 10M).")
    ] = None,
    events_per_ms: Annotated[int, typer.Option(min=1, help="Event-time density.")] = 10,
    as_json: JsonFlag = False,
    out: OutOption = None,
) -> None:
    """Offline replay events/s and RSS growth over many events (in process, no Kafka)."""
    from benchmarks.offline import run_offline_bench

    figures = run_offline_bench(
        quick,
        replay_events=replay_events,
        rss_events=events,
        events_per_ms=events_per_ms,
        verbose=False,
    )
    if _emit(figures, as_json, out):
        return
    r, m = figures["replay"], figures["rss"]
    print_table(
        f"offline (no Kafka; {figures['assets']} assets x 3 venues, "
        f"{figures['events_per_ms']} events/ms of event time)",
        ["figure", "value", "events", "loadavg"],
        [
            ("replay events/s", f"{r['events_per_s']:,}", f"{r['events']:,}", r["loadavg_1m"][-1]),
            ("replay events per CPU second", f"{r['events_per_cpu_s']:,}", f"{r['events']:,}", ""),
            ("apply events/s (RSS run)", f"{m['events_per_s']:,}", f"{m['events']:,}", ""),
            ("RSS after warm-up, MiB", m["warm_mb"], f"{m['warm_at_events']:,}", ""),
            ("RSS at the end, MiB", m["end_mb"], f"{m['events']:,}", m["loadavg_1m"][-1]),
            ("RSS growth, MiB", m["growth_mb"], "", ""),
        ],
    )
