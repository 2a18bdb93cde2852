"""Running backtests: the data a ``--data`` names, one run, and a parameter sweep in processes.

- ``--data`` is ``sim:SCENARIO`` (:mod:`fundingflow.backtest_sim`), a directory of Avro files
  or an incident bundle file (:mod:`streams.backtest_data`).
- A sweep (``entry_apr=5,10,20 exit_apr=2,4``) is the cartesian product of the values, each
  point the strategy with those parameters set (validated like the file), run in a
  ``ProcessPoolExecutor`` (2 workers, fork: the workers inherit the loaded data rather than
  receive it pickled; a sweep over ``sim.*`` parameters generates each point's data in its
  worker). Points are ranked by total PnL, then Sharpe, then their parameters: the same data and
  grid give the same table.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from fundingflow.backtest_report import summarize
from fundingflow.backtest_sim import PREFIX
from fundingflow.backtest_sim import sim_records
from schemas.avro_record import AvroRecord
from streams.backtest import BacktestResult
from streams.backtest import run_backtest
from streams.backtest_data import BacktestDataError
from streams.backtest_data import in_window
from streams.backtest_data import load_path
from streams.incident_replay import Positioned
from streams.strategy import Strategy
from streams.strategy import StrategyError
from streams.strategy import resolve_param

SWEEP_WORKERS = 2


def load_market(
    data: str, strategy: Strategy, start_ms: int | None, end_ms: int | None
) -> list[AvroRecord]:
    """The market records ``data`` names, in apply order, within ``[start_ms, end_ms)``."""
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise BacktestDataError(f"empty or inverted time range: --from {start_ms} --to {end_ms}")
    items: list[Positioned]
    if data.startswith(PREFIX):
        items = sim_records(data.removeprefix(PREFIX), strategy.sim)
    else:
        items = load_path(Path(data))
    kept = in_window(items, start_ms, end_ms)
    if not any(p.topic != "md.instrument" for p in kept):
        raise BacktestDataError(f"{data}: no market record in the time range")
    return [p.record for p in kept]


def run_once(
    records: Sequence[AvroRecord], strategy: Strategy, end_ms: int | None = None
) -> tuple[BacktestResult, dict[str, Any]]:
    result = run_backtest(records, strategy, end_ms)
    return result, summarize(result, strategy)


# ---- sweep ------------------------------------------------------------------------------------


def parse_grid(specs: Sequence[str]) -> list[dict[str, str]]:
    """``["entry_apr=5,10", "exit_apr=2,4"]`` -> every combination, in the given order."""
    if not specs:
        raise StrategyError("--sweep needs at least one PARAM=V1,V2,... argument")
    names: list[str] = []
    values: list[list[str]] = []
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        choices = [v.strip() for v in raw.split(",") if v.strip()]
        if not sep or not name or not choices:
            raise StrategyError(f"sweep argument {spec!r}: expected PARAM=V1,V2,...")
        resolve_param(name)
        if name in names:
            raise StrategyError(f"sweep parameter {name!r} given twice")
        names.append(name)
        values.append(choices)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]


_RECORDS: Sequence[AvroRecord] | None = None
"""The sweep's data, set before the workers fork (they inherit it)."""


def _point(
    args: tuple[dict[str, str], dict[str, Any], str, int | None, int | None],
) -> dict[str, Any]:
    params, document, data, start_ms, end_ms = args
    strategy = Strategy.model_validate(document)
    records = _RECORDS if _RECORDS is not None else load_market(data, strategy, start_ms, end_ms)
    _, summary = run_once(records, strategy, end_ms)
    return {"params": params, "summary": summary}


def _rank_key(point: dict[str, Any]) -> tuple[Any, ...]:
    s = point["summary"]
    sharpe = s["sharpe"]["value"]
    from decimal import Decimal

    return (
        -Decimal(s["pnl_quote"]["total"]),
        float("inf") if sharpe is None else -sharpe,
        sorted(point["params"].items()),
    )


def sweep(
    data: str,
    strategy: Strategy,
    grid: list[dict[str, str]],
    start_ms: int | None,
    end_ms: int | None,
    workers: int = SWEEP_WORKERS,
) -> list[dict[str, Any]]:
    """Every grid point's summary, ranked (1 = best total PnL)."""
    global _RECORDS
    strategies = [strategy.with_params(dict(p)) for p in grid]  # every point validated first
    per_point_data = any(resolve_param(n)[0] == "sim" for n in grid[0])
    _RECORDS = None if per_point_data else load_market(data, strategy, start_ms, end_ms)
    jobs = [
        (p, s.model_dump(mode="json"), data, start_ms, end_ms)
        for p, s in zip(grid, strategies, strict=True)
    ]
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            points = list(pool.map(_point, jobs))
    finally:
        _RECORDS = None
    ranked = sorted(points, key=_rank_key)
    for i, point in enumerate(ranked, 1):
        point["rank"] = i
    return ranked
