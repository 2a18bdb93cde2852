"""Running backtests: the data a ``--data`` names, one run, and a parameter sweep in processes.

- ``--data`` is ``sim:SCENARIO`` (:mod:`fundingflow.backtest_sim`), a directory of Avro files,
  an incident bundle file, or ``kafka`` / ``kafka:NAMESPACE`` (the recorded topics, or a
  replay namespace's copies) between ``--from`` and ``--to`` (:mod:`streams.backtest_data`).
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
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from fundingflow.backtest_report import summarize
from fundingflow.backtest_sim import PREFIX
from fundingflow.backtest_sim import sim_records
from schemas.avro_record import AvroRecord
from streams.backtest import BacktestResult
from streams.backtest import run_backtest
from streams.backtest_data import WHOLE_LOG
from streams.backtest_data import BacktestDataError
from streams.backtest_data import in_window
from streams.backtest_data import load_kafka
from streams.backtest_data import load_path
from streams.incident_replay import Positioned
from streams.replay_range import Bound
from streams.replay_range import ReplayInputError
from streams.replay_range import check_order
from streams.replay_range import parse_bound
from streams.strategy import Strategy
from streams.strategy import StrategyError
from streams.strategy import resolve_param

SWEEP_WORKERS = 2


KAFKA = "kafka"


@dataclass(frozen=True, slots=True)
class Span:
    """``--from`` / ``--to``: event times (every source), and for Kafka the replay bounds (times
    or offsets)."""

    start_ms: int | None = None
    end_ms: int | None = None
    start: Bound = WHOLE_LOG
    end: Bound = WHOLE_LOG


def is_kafka(data: str) -> bool:
    return data == KAFKA or data.startswith(KAFKA + ":")


def parse_span(data: str, start: str | None, end: str | None) -> Span:
    """The span the options name; :class:`BacktestDataError` on a bad or inverted one."""
    if is_kafka(data):
        try:
            lo = WHOLE_LOG if start is None else parse_bound(start, "--from")
            hi = WHOLE_LOG if end is None else parse_bound(end, "--to")
            check_order(lo, hi)
        except ReplayInputError as e:
            raise BacktestDataError(str(e)) from None
        return Span(
            lo.time_ms if lo.kind == "time" else None,
            hi.time_ms if hi.kind == "time" else None,
            lo,
            hi,
        )
    span = Span(_time_ms(start, "--from"), _time_ms(end, "--to"))
    if span.start_ms is not None and span.end_ms is not None and span.end_ms <= span.start_ms:
        raise BacktestDataError(f"empty or inverted time range: --from {start} --to {end}")
    return span


def _time_ms(text: str | None, flag: str) -> int | None:
    if text is None:
        return None
    try:
        bound = parse_bound(text, flag)
    except ReplayInputError:
        bound = None
    if bound is None or bound.kind != "time":
        raise BacktestDataError(f"{flag} {text!r}: expected epoch ms or ISO 8601")
    return bound.time_ms


def _kafka(data: str, span: Span) -> list[Positioned]:
    from fundingflow.settings import load_settings
    from fundingflow.settings import worker_settings
    from schemas.codec import Codec
    from schemas.registry import ConfluentRegistry

    settings = load_settings()
    namespace = data.removeprefix(KAFKA).removeprefix(":")
    prefix = worker_settings(settings).topic_prefix
    source = f"{namespace}.{prefix}" if namespace else prefix
    codec = Codec(ConfluentRegistry(settings.registry.url))
    try:
        return load_kafka(settings.kafka.bootstrap, codec, span.start, span.end, source)
    except ReplayInputError as e:
        raise BacktestDataError(str(e)) from None


def load_market(data: str, strategy: Strategy, span: Span) -> list[AvroRecord]:
    """The market records ``data`` names, in apply order, within the span."""
    items: list[Positioned]
    if data.startswith(PREFIX):
        items = sim_records(data.removeprefix(PREFIX), strategy.sim)
    elif is_kafka(data):
        items = _kafka(data, span)
    else:
        items = load_path(Path(data))
    kept = in_window(items, span.start_ms, span.end_ms)
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


def _point(args: tuple[dict[str, str], dict[str, Any], str, Span]) -> dict[str, Any]:
    params, document, data, span = args
    strategy = Strategy.model_validate(document)
    records = _RECORDS if _RECORDS is not None else load_market(data, strategy, span)
    _, summary = run_once(records, strategy, span.end_ms)
    return {"params": params, "summary": summary}


def _rank_key(point: dict[str, Any]) -> tuple[Any, ...]:
    s = point["summary"]
    sharpe = s["sharpe"]["value"]
    return (
        -Decimal(s["pnl_quote"]["total"]),
        float("inf") if sharpe is None else -sharpe,
        sorted(point["params"].items()),
    )


def sweep(
    data: str,
    strategy: Strategy,
    grid: list[dict[str, str]],
    span: Span,
    workers: int = SWEEP_WORKERS,
) -> list[dict[str, Any]]:
    """Every grid point's summary, ranked (1 = best total PnL)."""
    global _RECORDS
    strategies = [strategy.with_params(dict(p)) for p in grid]  # every point validated first
    per_point_data = any(resolve_param(n)[0] == "sim" for n in grid[0])
    _RECORDS = None if per_point_data else load_market(data, strategy, span)
    jobs = [
        (p, s.model_dump(mode="json"), data, span) for p, s in zip(grid, strategies, strict=True)
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
