"""``fundingflow bench``: benchmarks that print figures and ratios (never assert)."""

from __future__ import annotations

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
    from schemas.bench import run_codec_bench

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


@app.command()
def pipeline(
    quick: Annotated[bool, typer.Option("--quick", help="Smaller run (CI-sized).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Ticks/s through Kafka and the Faust agents, and tick -> opportunity latency, beside a
    raw confluent-kafka relay measured in the same run."""
    from fundingflow.settings import load_settings
    from streams.bench import run_pipeline_bench

    settings = load_settings()
    figures: dict[str, Any] = run_pipeline_bench(
        quick=quick,
        bootstrap=settings.kafka.bootstrap,
        registry_url=settings.registry.url,
        verbose=False,
    )
    if as_json:
        print_json(figures)
        return
    rows = []
    for key, value in figures.items():
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            rows.append((key, value))
    print_table("pipeline benchmark", ["figure", "value"], rows)
