"""``fundingflow execute`` plan options and the ``executor.plan*`` settings: a plan that cannot
run is refused before anything connects."""

from __future__ import annotations

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from fundingflow.cli import app
from fundingflow.settings import load_settings
from processors.execution_plans import PlanSpec
from schemas.errors import ConfigError
from schemas.records.execution import PlanKind


def test_the_default_plan_is_one_ioc_entry() -> None:
    assert load_settings().executor.plan_spec() == PlanSpec(
        PlanKind.IOC, slices=4, duration_ms=60_000
    )


def test_plan_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDINGFLOW_EXECUTOR__PLAN", "ICEBERG")
    monkeypatch.setenv("FUNDINGFLOW_EXECUTOR__PLAN_DISPLAY_BASE", "0.02")
    spec = load_settings().executor.plan_spec()
    assert (spec.kind, spec.display_size_base) == (PlanKind.ICEBERG, Decimal("0.02"))


def test_an_iceberg_without_a_display_size_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FUNDINGFLOW_EXECUTOR__PLAN", "ICEBERG")
    with pytest.raises(ConfigError, match="display size"):
        load_settings()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plan", "SNIPER"], "MARKET"),
        (["--plan", "iceberg"], "display"),
        (["--plan", "ICEBERG", "--plan-display-base", "lots"], "number"),
        (["--plan", "LIMIT", "--plan-duration-ms", "0"], "duration"),
    ],
)
def test_bad_plan_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["execute", "--gateway", "http://127.0.0.1:1", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
