"""The backtest report: summary figures, the per-opportunity table, PNG plots and one HTML page.

:func:`summarize` turns a :class:`streams.backtest.BacktestResult` into the summary document
(money in quote currency as exact decimal strings, rates in percent), with the statistics of
:mod:`processors.backtest_metrics`. :func:`write_report` writes, into a fresh directory:

| file | holds |
|---|---|
| ``summary.json`` | the summary document (also what ``--json`` prints) |
| ``opportunities.csv`` / ``opportunities.json`` | one row per opportunity the strategy saw |
| ``equity.csv`` | the equity curve and its drawdown |
| ``funding_settlements.csv`` | every funding settlement booked on a position |
| ``equity.png``, ``drawdown.png``, ``funding_apr.png`` | the plots (matplotlib, Agg) |
| ``report.html`` | one page: the summary, the plots (``<img src=...>``) and the table |

The directory is built under a temporary name beside the target and renamed at the end, so a
failed run leaves nothing.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
from collections import defaultdict
from dataclasses import asdict
from datetime import UTC
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from processors.backtest_metrics import annualized_compounded
from processors.backtest_metrics import annualized_simple
from processors.backtest_metrics import drawdowns
from processors.backtest_metrics import max_drawdown
from processors.backtest_metrics import resample
from processors.backtest_metrics import sharpe
from processors.backtest_metrics import total_return
from processors.backtest_metrics import win_rate
from streams.backtest import BacktestResult
from streams.strategy import Strategy

CENT = Decimal("0.01")
PLOTS = ("equity.png", "drawdown.png", "funding_apr.png")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pct(x: float | None) -> float | None:
    return None if x is None else round(x * 100, 6)


def _money(x: Decimal) -> str:
    return format(x.normalize() if x else Decimal(0), "f")


def summarize(result: BacktestResult, strategy: Strategy) -> dict[str, Any]:
    """The summary document of one run (deterministic: no wall-clock figure in it)."""
    p = result.portfolio
    capital = float(result.capital_quote)
    duration = max(result.end_ms - result.start_ms, 1)
    total = total_return(float(p.total_pnl_quote), capital)
    curve = [float(e) for _, e in result.equity]
    dd = max_drawdown(curve)
    sharpe_ms = strategy.report.sharpe_minutes * 60_000
    hourly = resample(
        [(t, float(e)) for t, e in result.equity], result.start_ms, result.end_ms, sharpe_ms
    )
    traded = [r for r in result.opportunities if r.traded]
    return {
        "period": {
            "start": iso(result.start_ms),
            "end": iso(result.end_ms),
            "start_ms": result.start_ms,
            "end_ms": result.end_ms,
            "hours": round(duration / 3_600_000, 6),
        },
        "events": result.events,
        "refused_events": result.refused,
        "quote_currency": result.quote_currency,
        "capital_quote": _money(result.capital_quote),
        "pnl_quote": {
            "total": _money(p.total_pnl_quote),
            "price": _money(p.price_pnl_quote or Decimal(0)),
            "funding": _money(p.funding_pnl_quote),
            "fees": _money(p.fees_quote),
            "slippage": _money(p.slippage_quote or Decimal(0)),
            "realized": _money(p.realized_pnl_quote),
            "unrealized": _money(p.unrealized_pnl_quote),
            "identity": "total = price + funding - fees - slippage",
        },
        "funding_earned_quote": _money(p.funding_pnl_quote),
        "fees_quote": _money(p.fees_quote),
        "slippage_quote": _money(p.slippage_quote or Decimal(0)),
        "return_pct": {
            "total": _pct(total),
            "annualized_simple": _pct(annualized_simple(total, duration)),
            "annualized_compounded": _pct(annualized_compounded(total, duration)),
            "basis": "PnL over capital_quote; simple = total x year / duration, "
            "compounded = (1 + total) ^ (year / duration) - 1",
        },
        "sharpe": {
            "value": sharpe([v for _, v in hourly], sharpe_ms),
            "sampling_minutes": strategy.report.sharpe_minutes,
            "basis": "mean / stdev of per-period PnL x sqrt(periods per year), risk-free 0",
        },
        "max_drawdown": {"quote": round(dd.quote, 6), "pct": _pct(dd.fraction)},
        "win_rate_pct": _pct(win_rate([float(r.total_pnl_quote) for r in traded])),
        "opportunities": len(result.opportunities),
        "traded": len(traded),
        "decisions": result.decisions,
        "funding_settlements": len(result.settlements),
    }


def _row(row: Any) -> dict[str, Any]:
    out = {}
    for k, v in asdict(row).items():
        out[k] = _money(v) if isinstance(v, Decimal) else v
    out["opened"] = iso(row.opened_ms)
    out["closed"] = None if row.closed_ms is None else iso(row.closed_ms)
    return out


def opportunity_rows(result: BacktestResult) -> list[dict[str, Any]]:
    return [_row(r) for r in result.opportunities]


def _csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# ---- plots ------------------------------------------------------------------------------------


def _figure(title: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("hours from start")
    ax.grid(True, alpha=0.3)
    return fig, ax


def _save(fig: Any, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png")


def plot_equity(result: BacktestResult, path: Path) -> None:
    fig, ax = _figure(f"Equity ({result.quote_currency})", result.quote_currency)
    h = [(t - result.start_ms) / 3_600_000 for t, _ in result.equity]
    ax.plot(h, [float(e) for _, e in result.equity], color="tab:blue")
    ax.axhline(float(result.capital_quote), color="grey", linewidth=0.8, linestyle="--")
    _save(fig, path)


def plot_drawdown(result: BacktestResult, path: Path) -> None:
    fig, ax = _figure("Drawdown from the running peak (%)", "%")
    h = [(t - result.start_ms) / 3_600_000 for t, _ in result.equity]
    dd = drawdowns([float(e) for _, e in result.equity])
    ax.fill_between(h, [-d.fraction * 100 for d in dd], 0, color="tab:red", alpha=0.4)
    _save(fig, path)


def funding_apr_by_venue(result: BacktestResult) -> dict[str, list[tuple[float, float]]]:
    """Per venue, the mean funding APR (%) of its perps per hour: (hours from start, APR)."""
    buckets: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for t, exchange, _, apr in result.funding_apr:
        buckets[exchange][(t - result.start_ms) // 3_600_000].append(apr)
    return {
        venue: [(float(h), sum(v) / len(v)) for h, v in sorted(hours.items())]
        for venue, hours in sorted(buckets.items())
    }


def plot_funding_apr(result: BacktestResult, path: Path) -> None:
    fig, ax = _figure("Funding APR by venue (mean of its perps, hourly, %)", "APR %")
    for venue, points in funding_apr_by_venue(result).items():
        ax.plot([h for h, _ in points], [a for _, a in points], label=venue, marker=".")
    if result.funding_apr:
        ax.legend(loc="best", fontsize="small")
    _save(fig, path)


# ---- html -------------------------------------------------------------------------------------

TABLE_COLUMNS = [
    "opportunity_id",
    "kind",
    "asset",
    "long_leg",
    "short_leg",
    "opened",
    "closed",
    "close_reason",
    "open_net_apr_pct",
    "decision",
    "reasons",
    "pair_status",
    "size_base",
    "entry_notional_quote",
    "price_pnl_quote",
    "funding_quote",
    "fees_quote",
    "slippage_quote",
    "total_pnl_quote",
    "settlements",
]


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure, value with unit) for the CLI and the HTML page."""
    q = summary["quote_currency"]
    pnl = summary["pnl_quote"]
    r = summary["return_pct"]
    sh = summary["sharpe"]

    def cents(text: str) -> str:
        return f"{Decimal(text).quantize(CENT):,} {q}"

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.4f} %"

    return [
        ("period", f"{summary['period']['start']} -> {summary['period']['end']}"),
        ("hours", f"{summary['period']['hours']:.2f}"),
        ("events", f"{summary['events']:,} ({summary['refused_events']} refused)"),
        ("capital", cents(summary["capital_quote"])),
        ("total PnL", cents(pnl["total"])),
        ("  price PnL", cents(pnl["price"])),
        ("  funding earned", cents(pnl["funding"])),
        ("  fees", cents(pnl["fees"])),
        ("  slippage", cents(pnl["slippage"])),
        ("total return", pct(r["total"])),
        ("annualized return, simple", pct(r["annualized_simple"])),
        ("annualized return, compounded", pct(r["annualized_compounded"])),
        (
            f"Sharpe ({sh['sampling_minutes']}-min PnL, annualized)",
            "-" if sh["value"] is None else f"{sh['value']:.3f}",
        ),
        (
            "max drawdown",
            f"{summary['max_drawdown']['quote']:,.2f} {q} "
            f"({pct(summary['max_drawdown']['pct'])} of peak)",
        ),
        ("win rate (traded opportunities)", pct(summary["win_rate_pct"])),
        ("opportunities / traded", f"{summary['opportunities']} / {summary['traded']}"),
        ("decisions", ", ".join(f"{k} {v}" for k, v in summary["decisions"].items()) or "-"),
        ("funding settlements", str(summary["funding_settlements"])),
    ]


def _html(summary: dict[str, Any], rows: list[dict[str, Any]], source: str) -> str:
    e = html.escape
    figures = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in summary_rows(summary))
    head = "".join(f"<th>{e(c)}</th>" for c in TABLE_COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{e(str(r.get(c) if r.get(c) is not None else ''))}</td>" for c in TABLE_COLUMNS
        )
        + "</tr>"
        for r in rows
    )
    images = "".join(f'<p><img src="{name}" alt="{name}"></p>' for name in PLOTS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fundingflow backtest</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:left}}</style></head>
<body><h1>Backtest</h1><p>data: {e(source)}</p>
<h2>Summary</h2><table>{figures}</table>
<p>PnL split: total = price + funding - fees - slippage (quote currency). Returns are relative
to the capital; annualized simple = total x year / duration, compounded =
(1 + total)^(year / duration) - 1.</p>
<h2>Plots</h2>{images}
<h2>Opportunities</h2><table><tr>{head}</tr>{body}</table>
</body></html>
"""


def default_out(root: Path, now_ms: int) -> Path:
    """A new folder per run: ``root/run-<UTC time>`` (``-2``, ``-3`` ... if taken)."""
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
    out = root / f"run-{stamp}"
    n = 2
    while out.exists():
        out = root / f"run-{stamp}-{n}"
        n += 1
    return out


def write_report(
    result: BacktestResult,
    summary: dict[str, Any],
    out: Path,
    source: str,
) -> list[str]:
    """Write every report file into ``out`` (which must not exist); the file names."""
    if out.exists():
        raise FileExistsError(f"{out} exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        rows = opportunity_rows(result)
        (tmp / "summary.json").write_text(
            json.dumps({**summary, "data": source}, indent=1, sort_keys=True, default=str)
        )
        (tmp / "opportunities.json").write_text(json.dumps(rows, indent=1, default=str))
        _csv(tmp / "opportunities.csv", rows, TABLE_COLUMNS)
        curve = [float(e) for _, e in result.equity]
        dd = drawdowns(curve)
        equity_rows = [
            {
                "time": iso(t),
                "time_ms": t,
                "equity_quote": _money(e),
                "drawdown_quote": round(d.quote, 6),
                "drawdown_pct": round(d.fraction * 100, 6),
            }
            for (t, e), d in zip(result.equity, dd, strict=True)
        ]
        _csv(tmp / "equity.csv", equity_rows, list(equity_rows[0]) if equity_rows else ["time"])
        settlement_rows = [{**asdict(s), "time": iso(s.time_ms)} for s in result.settlements]
        columns = ["time", "time_ms", "exchange", "symbol", "rate", "mark_price",
                   "net_size_base", "amount_quote", "signal_id"]  # fmt: skip
        _csv(tmp / "funding_settlements.csv", settlement_rows, columns)
        plot_equity(result, tmp / "equity.png")
        plot_drawdown(result, tmp / "drawdown.png")
        plot_funding_apr(result, tmp / "funding_apr.png")
        (tmp / "report.html").write_text(_html(summary, rows, source), encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(p.name for p in out.iterdir())
