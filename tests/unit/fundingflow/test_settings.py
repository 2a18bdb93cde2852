from __future__ import annotations

from pathlib import Path

import pytest

from fundingflow.settings import load_settings
from schemas.errors import ConfigError


def test_defaults_are_loopback() -> None:
    settings = load_settings()
    assert settings.kafka.bootstrap == "127.0.0.1:9092"
    assert settings.registry.url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert settings.questdb.http_url == "http://127.0.0.1:9000"


def test_environment_overrides_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDINGFLOW_KAFKA__PORT", "19092")
    monkeypatch.setenv("FUNDINGFLOW_REGISTRY__HOST", "registry")
    settings = load_settings()
    assert settings.kafka.bootstrap == "127.0.0.1:19092"
    assert settings.registry.url.startswith("http://registry:8081")


def test_bad_value_is_a_config_error_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDINGFLOW_KAFKA__PORT", "not-a-port")
    with pytest.raises(ConfigError, match=r"kafka\.port"):
        load_settings()


def test_secret_never_appears_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FUNDINGFLOW_POSTGRES__PASSWORD", "hunter2-very-secret")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())
    monkeypatch.setenv("FUNDINGFLOW_POSTGRES__PORT", "hunter2-very-secret")
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    assert "hunter2" not in str(excinfo.value)


def test_secrets_dir_supplies_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "FUNDINGFLOW_POSTGRES__PASSWORD").write_text("from-file")
    monkeypatch.setenv("FUNDINGFLOW_SECRETS_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.postgres.password.get_secret_value() == "from-file"


def test_missing_secrets_dir_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNDINGFLOW_SECRETS_DIR", str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="not a directory"):
        load_settings()


def test_toml_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "fundingflow.toml"
    config.write_text("[kafka]\nport = 29092\n")
    monkeypatch.setenv("FUNDINGFLOW_CONFIG", str(config))
    assert load_settings().kafka.port == 29092


def test_unknown_key_in_config_file_is_rejected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "fundingflow.toml"
    config.write_text("[kafka]\nprot = 29092\n")
    monkeypatch.setenv("FUNDINGFLOW_CONFIG", str(config))
    with pytest.raises(ConfigError, match="prot"):
        load_settings()
