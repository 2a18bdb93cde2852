"""Backtest speed: a 24 h simulated backtest of 5 assets x 3 venues, wall time and events/s.

    python -m benchmarks.backtest_speed [--hours 24] [--step-s 60] [--assets BTC,ETH,SOL,XRP,DOGE]
        [--json]

What ``fundingflow backtest --data sim:default`` does, timed in two parts:

* ``generate``: the simulated world through the connector's own feed at max speed, in process
  (books and funding of every spot and perp market of the three sim venues, normalized and
  validated, :mod:`fundingflow.backtest_sim`);
* ``backtest``: those records through the market and risk reducers, the pair reducer, paper
  fills against the books and the portfolio (:mod:`streams.backtest`), then the summary
  statistics; events/s is over this part;
* ``report``: the report files and the three PNG plots (into a temporary directory).

Target (issue 11): the whole 24 h run under 60 s. Prints figures only; nothing here asserts on
time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from fundingflow.backtest_report import summarize
from fundingflow.backtest_report import write_report
from fundingflow.backtest_sim import sim_records
from streams.backtest import run_backtest
from streams.strategy import Strategy


def measure(hours: float, step_s: int, assets: tuple[str, ...]) -> dict[str, Any]:
    strategy = Strategy.model_validate(
        {"sim": {"hours": str(hours), "step_s": step_s, "assets": list(assets)}}
    )
    began = time.perf_counter()
    items = sim_records("default", strategy.sim)
    generated = time.perf_counter()
    result = run_backtest([p.record for p in items], strategy)
    summary = summarize(result, strategy)
    ran = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_report(result, summary, Path(tmp) / "report", "sim:default")
    reported = time.perf_counter()
    by_topic: dict[str, int] = {}
    for p in items:
        by_topic[p.topic] = by_topic.get(p.topic, 0) + 1
    return {
        "hours": hours,
        "step_s": step_s,
        "assets": list(assets),
        "venues": 3,
        "markets": len({(p.record.instrument.exchange, p.record.instrument.symbol) for p in items}),  # type: ignore[attr-defined]
        "records": by_topic,
        "events": result.events,
        "generate_s": round(generated - began, 3),
        "backtest_s": round(ran - generated, 3),
        "report_s": round(reported - ran, 3),
        "wall_s": round(reported - began, 3),
        "backtest_events_per_s": round(result.events / (ran - generated)),
        "end_to_end_events_per_s": round(result.events / (reported - began)),
        "target_wall_s": 60,
        "opportunities": summary["opportunities"],
        "traded": summary["traded"],
        "total_pnl_quote": str(Decimal(summary["pnl_quote"]["total"]).quantize(Decimal("0.01"))),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--step-s", type=int, default=60)
    parser.add_argument("--assets", default="BTC,ETH,SOL,XRP,DOGE")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    assets = tuple(a.strip() for a in args.assets.split(",") if a.strip())
    figures = measure(args.hours, args.step_s, assets)
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return
    print(
        f"{figures['hours']:g} h sim backtest, {len(assets)} assets x 3 venues "
        f"({figures['markets']} markets), step {figures['step_s']} s"
    )
    print(f"  records          {figures['events']:>10,}  {figures['records']}")
    print(f"  generate (feed)  {figures['generate_s']:>10.2f} s")
    print(
        f"  backtest         {figures['backtest_s']:>10.2f} s  "
        f"{figures['backtest_events_per_s']:,} events/s"
    )
    print(f"  report + plots   {figures['report_s']:>10.2f} s")
    print(
        f"  wall             {figures['wall_s']:>10.2f} s  (target < 60 s), "
        f"{figures['end_to_end_events_per_s']:,} events/s end to end"
    )
    print(
        f"  opportunities {figures['opportunities']}, traded {figures['traded']}, "
        f"total PnL {figures['total_pnl_quote']} USDT; load average {figures['load_average']}"
    )


if __name__ == "__main__":
    main()
