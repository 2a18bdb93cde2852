"""``fundingflow backtest``: recorded market data through the pipeline's processors, and sweeps."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated
from typing import Any

import typer

from fundingflow.output import err_console
from fundingflow.output import print_json
from fundingflow.output import print_table

app = typer.Typer()

DATA_HELP = (
    "sim:SCENARIO (the simulated world, generated in process), an incident bundle FILE, a "
    "DIR of Avro files (md.instrument.avro, md.book.avro, md.funding.avro), or kafka / "
    "kafka:NAMESPACE (the recorded md.* topics between --from and --to)"
)
TIME_HELP = "epoch ms or ISO 8601 (UTC unless it says otherwise); for kafka also offset:N, P:N,..."


@app.command()
def backtest(
    grid: Annotated[
        list[str] | None,
        typer.Argument(help="With --sweep: PARAM=V1,V2,... (e.g. entry_apr=5,10,20 exit_apr=2,4)."),
    ] = None,
    data: Annotated[str, typer.Option("--data", help=DATA_HELP)] = "sim:default",
    config: Annotated[
        Path | None, typer.Option("--config", help="strategy.toml; default: every default.")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help=f"Inclusive start, {TIME_HELP}.")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help=f"Exclusive end, {TIME_HELP}.")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Report directory (new); default: backtests/run-<UTC time>."),
    ] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Run the grid of PARAM=values in parallel, ranked.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Run recorded (or simulated) market data as fast as possible through the live
    processors — market state, opportunities, risk, paper execution against the recorded books,
    portfolio with funding at each venue's settlement times — and write a report."""
    from fundingflow.backtest_report import default_out
    from fundingflow.backtest_report import summary_rows
    from fundingflow.backtest_report import write_report
    from fundingflow.backtest_run import load_market
    from fundingflow.backtest_run import parse_grid
    from fundingflow.backtest_run import parse_span
    from fundingflow.backtest_run import run_once
    from fundingflow.backtest_run import sweep as run_sweep
    from fundingflow.log import configure_logging
    from streams.backtest_data import BacktestDataError
    from streams.strategy import StrategyError
    from streams.strategy import load_strategy

    configure_logging("WARNING")  # to stderr: stdout holds the table or the JSON only
    if grid and not sweep:
        raise typer.BadParameter(f"unexpected arguments {' '.join(grid)} (did you mean --sweep?)")
    if out is not None and out.exists():
        raise typer.BadParameter(f"--out {out} exists; choose a new directory")
    try:
        span = parse_span(data, start, end)
        strategy = load_strategy(config)
        if sweep:
            points = parse_grid(grid or [])
            began = time.monotonic()
            ranked = run_sweep(data, strategy, points, span)
            _print_sweep(ranked, as_json, time.monotonic() - began)
            return
        began = time.monotonic()
        records = load_market(data, strategy, span)
        loaded = time.monotonic()
        result, summary = run_once(records, strategy, span.end_ms)
        wall = time.monotonic() - began
    except (StrategyError, BacktestDataError) as e:
        raise typer.BadParameter(str(e)) from None
    target = out or default_out(Path("backtests"), int(time.time() * 1000))
    files = write_report(result, summary, target, data)
    run = {
        "wall_s": round(wall, 3),
        "load_s": round(loaded - began, 3),
        "events_per_s": round(result.events / max(wall - (loaded - began), 1e-9)),
    }
    if as_json:
        print_json({**summary, "data": data, "out": str(target), "files": files, "run": run})
        return
    print_table(f"backtest of {data}", ["figure", "value"], summary_rows(summary))
    err_console.print(
        f"{result.events:,} events in {run['wall_s']} s (load {run['load_s']} s, "
        f"{run['events_per_s']:,} events/s through the processors); report in {target}/"
    )


def _print_sweep(ranked: list[dict[str, Any]], as_json: bool, wall_s: float) -> None:
    if as_json:
        print_json({"points": ranked, "wall_s": round(wall_s, 3)})
        return
    names = list(ranked[0]["params"]) if ranked else []
    rows = []
    for p in ranked:
        s = p["summary"]
        sh = s["sharpe"]["value"]
        dd = s["max_drawdown"]["pct"]
        win = s["win_rate_pct"]
        rows.append(
            (
                p["rank"],
                *(p["params"][n] for n in names),
                f"{float(s['pnl_quote']['total']):,.2f}",
                f"{s['return_pct']['total']:.4f}",
                f"{s['return_pct']['annualized_simple']:.2f}",
                "-" if sh is None else f"{sh:.3f}",
                "-" if dd is None else f"{dd:.4f}",
                "-" if win is None else f"{win:.1f}",
                s["traded"],
            )
        )
    quote = ranked[0]["summary"]["quote_currency"] if ranked else "quote"
    columns = [
        "rank",
        *names,
        f"total PnL ({quote})",
        "return %",
        "ann. simple %",
        "Sharpe",
        "max DD %",
        "win %",
        "traded",
    ]
    print_table(f"sweep of {len(ranked)} points, ranked by total PnL", columns, rows)
    err_console.print(f"{len(ranked)} backtests in {wall_s:.1f} s")
