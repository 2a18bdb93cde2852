"""``fundingflow backtest``: the report it writes, its JSON, the sweep, and bad input refused.

Data: the hand-checkable market (tests/backtest_market.py) as a directory of Avro files, and
one short run of the simulated world (``sim:default``, 2 h).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from fundingflow.backtest_report import PLOTS
from fundingflow.cli import EXIT_USAGE
from fundingflow.cli import main
from streams.backtest_data import write_records_dir
from tests import backtest_market as m


@pytest.fixture(autouse=True)
def wide_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Error panels one line wide, so a message with a long path stays one string."""
    monkeypatch.setenv("COLUMNS", "500")
    monkeypatch.setenv("TERMINAL_WIDTH", "500")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("market")
    write_records_dir(path, m.market())
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    out = capsys.readouterr().out
    document: dict = json.loads(out)  # type: ignore[type-arg]  # the whole of stdout
    return document


def test_the_report_holds_every_file_and_the_hand_computed_figures(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    assert main(["backtest", "--data", str(data), "--out", str(out), "--json"]) == 0
    summary = _json(capsys)
    assert summary["pnl_quote"]["funding"] == "56.9772"
    assert summary["pnl_quote"]["fees"] == "19.992"
    assert summary["pnl_quote"]["total"] == "34.986"
    assert summary["return_pct"]["total"] == pytest.approx(0.034986)
    assert summary["traded"] == 1
    assert summary["win_rate_pct"] == 100.0
    assert summary["sharpe"]["sampling_minutes"] == 60
    expected = {
        "summary.json", "opportunities.csv", "opportunities.json", "equity.csv",
        "funding_settlements.csv", "report.html", *PLOTS,
    }  # fmt: skip
    assert set(summary["files"]) == expected == {p.name for p in out.iterdir()}
    for name in PLOTS:
        with Image.open(out / name) as image:
            image.verify()
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            assert image.size[0] > 100
            assert image.size[1] > 100
            extrema = image.convert("L").getextrema()
            assert extrema[0] != extrema[1]  # something was drawn: not one flat grey
    page = (out / "report.html").read_text()
    for name in PLOTS:
        assert f'src="{name}"' in page
    assert "34.99 USDT" in page
    rows = (out / "opportunities.csv").read_text().splitlines()
    assert len(rows) == 2
    assert rows[0].startswith("opportunity_id,kind,asset")
    assert json.loads((out / "summary.json").read_text())["pnl_quote"]["total"] == "34.986"


def test_the_table_is_readable(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", "--data", str(data), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "funding earned" in out
    assert "56.98 USDT" in out
    assert "annualized return, simple" in out


def test_the_time_range_cuts_the_data(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backtest", "--data", str(data), "--out", str(tmp_path / "r"), "--json"]
    assert main([*args, "--from", str(m.T), "--to", "2026-01-01T12:00:00Z"]) == 0
    assert _json(capsys)["pnl_quote"]["funding"] == "18.9924"  # one settlement


def _refused(args: list[str], capsys: pytest.CaptureFixture[str], message: str) -> None:
    assert main(args) == EXIT_USAGE
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "sim:nowhere"], "unknown sim scenario 'nowhere'"),
        (["--data", "/no/such/dir"], "no such file or directory"),
        (["--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], "inverted"),
        (["--from", "yesterday"], "--from 'yesterday'"),
        (["entry_apr=5"], "did you mean --sweep"),
        (["--sweep", "nope=1,2"], "unknown parameter 'nope'"),
        (["--sweep", "entry_apr"], "expected PARAM=V1,V2"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    out = tmp_path / "report"
    args = ["backtest", "--data", str(data), "--out", str(out), *extra]
    _refused(args, capsys, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[strategy]\nentry_apr = -1\n", "strategy.entry_apr"),
        ("[strategy]\nbogus = 1\n", "strategy.bogus: unknown key"),
        ("not = [toml\n", "not valid TOML"),
    ],
)
def test_a_bad_strategy_file_exits_2_and_writes_nothing(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, message: str
) -> None:
    config = tmp_path / "strategy.toml"
    config.write_text(toml)
    out = tmp_path / "report"
    args = ["backtest", "--data", str(data), "--config", str(config), "--out", str(out)]
    _refused(args, capsys, message)
    assert not out.exists()


def test_corrupt_data_exits_2_and_writes_nothing(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "md.book.avro").write_bytes((data / "md.book.avro").read_bytes()[:300])
    out = tmp_path / "report"
    _refused(["backtest", "--data", str(broken), "--out", str(out)], capsys, "md.book.avro")
    assert not out.exists()
    bundle = tmp_path / "bundle.tar"
    bundle.write_bytes(b"\0" * 1024)
    _refused(["backtest", "--data", str(bundle), "--out", str(out)], capsys, "bundle.tar")
    assert not out.exists()


def test_an_existing_output_directory_is_refused(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _refused(["backtest", "--data", str(data), "--out", str(tmp_path)], capsys, "exists")


def test_a_sweep_ranks_every_point_the_same_way_twice(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["backtest", "--data", str(data), "--json", "--sweep", "entry_apr=5,1000",
            "costs.extra_slippage_bps=0,10"]  # fmt: skip
    assert main(args) == 0
    first = _json(capsys)
    assert main(args) == 0
    second = _json(capsys)
    assert first["points"] == second["points"]
    points = first["points"]
    assert [p["rank"] for p in points] == [1, 2, 3, 4]
    totals = [float(p["summary"]["pnl_quote"]["total"]) for p in points]
    assert totals == sorted(totals, reverse=True)
    assert points[0]["params"] == {"entry_apr": "5", "costs.extra_slippage_bps": "0"}
    assert totals[0] == pytest.approx(34.986)
    idle = [p for p in points if p["params"]["entry_apr"] == "1000"]
    assert [p["rank"] for p in idle] == [2, 3]  # nothing traded: 0, between the two that did
    assert all(p["summary"]["traded"] == 0 for p in idle)
    assert points[3]["params"] == {"entry_apr": "5", "costs.extra_slippage_bps": "10"}
    assert totals[3] < 0  # 10 bps on four fills of ~10,000 cost more than the trade made
    assert main([*args[:-4], "--sweep", "entry_apr=5,1000"]) == 0  # the table
    assert "ranked by total PnL" in capsys.readouterr().out


def test_the_simulated_world_runs_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "strategy.toml"
    config.write_text("[sim]\nhours = 2\nassets = ['BTC', 'ETH']\n")
    out = tmp_path / "report"
    args = ["backtest", "--data", "sim:default", "--config", str(config), "--out", str(out)]
    assert main([*args, "--json"]) == 0
    summary = _json(capsys)
    assert summary["events"] > 500
    assert summary["period"]["hours"] == pytest.approx(2, abs=0.05)
    pnl = summary["pnl_quote"]
    from decimal import Decimal

    parts = Decimal(pnl["price"]) + Decimal(pnl["funding"]) - Decimal(pnl["fees"])
    assert parts - Decimal(pnl["slippage"]) == Decimal(pnl["total"])


def test_a_sweep_over_the_simulated_world_generates_each_point_s_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "strategy.toml"
    config.write_text("[sim]\nhours = 1\nassets = ['ETH']\n")
    args = ["backtest", "--data", "sim:default", "--config", str(config), "--json"]
    assert main([*args, "--sweep", "sim.seed=0,1"]) == 0
    points = _json(capsys)["points"]
    assert sorted(p["params"]["sim.seed"] for p in points) == ["0", "1"]
    events = {p["params"]["sim.seed"]: p["summary"]["events"] for p in points}
    assert events["0"] != events["1"]  # another seed, another market
