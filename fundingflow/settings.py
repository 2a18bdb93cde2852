"""Settings: the only place that reads the environment, a secrets directory or a config file.

Built once by the CLI and passed down explicitly; there is no module-level instance.
Environment variables use the prefix ``FUNDINGFLOW_`` and ``__`` for nesting, e.g.
``FUNDINGFLOW_KAFKA__BOOTSTRAP=127.0.0.1:9092`` or ``FUNDINGFLOW_POSTGRES__PASSWORD``.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic import SecretStr
from pydantic import ValidationError
from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import NestedSecretsSettingsSource
from pydantic_settings import PydanticBaseSettingsSource
from pydantic_settings import SettingsConfigDict
from pydantic_settings import TomlConfigSettingsSource

from connectors.config import ConnectorSettings
from processors.execution_plans import PlanSpec
from processors.settings import FrozenSettings
from schemas.errors import ConfigError
from schemas.records.execution import PlanKind
from streams.config import StreamsSettings

LOOPBACK = "127.0.0.1"


class KafkaSettings(FrozenSettings):
    """Broker endpoints and topic defaults."""

    host: str = LOOPBACK
    port: int = Field(default=9092, ge=1, le=65535)
    controller_port: int = Field(default=9093, ge=1, le=65535)
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int = Field(default=1, ge=1)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


class RegistrySettings(FrozenSettings):
    """Confluent-compatible schema registry (Apicurio's ``/apis/ccompat/v7``)."""

    host: str = LOOPBACK
    port: int = Field(default=8081, ge=1, le=65535)
    ccompat_path: str = "/apis/ccompat/v7"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}{self.ccompat_path}"


class PostgresSettings(FrozenSettings):
    """The ledger database."""

    host: str = LOOPBACK
    port: int = Field(default=5432, ge=1, le=65535)
    user: str = "fundingflow"
    password: SecretStr = SecretStr("fundingflow")
    database: str = "fundingflow"
    registry_database: str = "apicurio"
    schema_name: str | None = Field(default=None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    """The schema (search_path) of the project's tables; None: the database's default."""

    def conninfo(self, database: str | None = None) -> str:
        """A libpq connection string; never log it (it holds the password)."""
        db = database or self.database
        secret = self.password.get_secret_value()
        info = f"host={self.host} port={self.port} user={self.user} password={secret} dbname={db}"
        if self.schema_name is not None and database is None:
            info += f" options='-c search_path={self.schema_name}'"
        return info


class QuestDBSettings(FrozenSettings):
    """Time-series store: ILP over HTTP and the PostgreSQL wire port."""

    host: str = LOOPBACK
    http_port: int = Field(default=9000, ge=1, le=65535)
    http_min_port: int = Field(default=9003, ge=1, le=65535)
    pg_port: int = Field(default=8812, ge=1, le=65535)
    ilp_tcp_port: int = Field(default=9009, ge=1, le=65535)

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"


class StackSettings(FrozenSettings):
    """Versions and locations of the local stack started from package registries."""

    home: Path = Path(".local")
    kafka_version: str = "4.1.1"
    apicurio_version: str = "3.0.9"
    questdb_version: str = "9.3.4"
    java_home: Path | None = None
    start_timeout_s: float = Field(default=120.0, gt=0)


class ExecutorSettings(FrozenSettings):
    """The execution consumer and the simulated venues' order gateway it trades on."""

    gateway_host: str = LOOPBACK
    gateway_port: int = Field(default=8790, ge=0, le=65535)
    """Port of the sim venues' order gateway (served by ``connect --venues sim``; 0: none)."""
    group: str = "fundingflow-executor"
    reconcile_every_s: float = Field(default=30.0, gt=0)
    max_decision_age_ms: int = Field(default=60_000, gt=0)
    """Decisions further than this from the venue's clock are not traded (stale)."""
    entry_band_bps: Decimal | None = Field(default=Decimal(50), ge=0)
    """Entries are limit IOC orders at most this far past the opportunity's expected price
    (None: market orders); unwinds and closes are market orders."""
    lost_after_ms: int = Field(default=30_000, gt=0)
    """An IOC/FOK order the venue has not shown this long after its intent (and after four
    fetches by client id) is closed as expired unfilled."""
    position_tolerance_base: Decimal | None = Field(default=None, ge=0)
    """How far a venue's position may differ from the ledger's before trading halts; None:
    one lot of the instrument."""
    funding_tolerance_quote: Decimal = Field(default=Decimal("0.01"), ge=0)
    funding_tolerance_bps: Decimal = Field(default=Decimal(10), ge=0)
    """A funding settlement paid further than the larger of these (quote currency, or bps of
    the expected amount) from what the held position should have got raises an incident."""
    plan: PlanKind = PlanKind.IOC
    """How the entry leg is executed (``processors.execution_plans``): MARKET, LIMIT, IOC (one
    marketable limit IOC order, the default), FOK, POST_ONLY, ICEBERG, TWAP, VWAP, LEVELS."""
    plan_slices: int = Field(default=4, ge=0)
    """TWAP/VWAP: children; LEVELS: most book levels (0: as many as the target needs)."""
    plan_duration_ms: int = Field(default=60_000, ge=0)
    """TWAP/VWAP: span the children are released over; LIMIT/POST_ONLY/ICEBERG: how long a
    child may rest before it is canceled."""
    plan_display_base: Decimal | None = Field(default=None, gt=0)
    """ICEBERG: the most one child shows at the venue, base units."""
    post_only_retries: int = Field(default=0, ge=0)
    """POST_ONLY: retries at the passive price after the venue rejects a crossing order."""

    @model_validator(mode="after")
    def _plan_is_executable(self) -> ExecutorSettings:
        self.plan_spec()  # raises PlanError (a ValueError): a configuration error
        return self

    def plan_spec(self) -> PlanSpec:
        return PlanSpec(
            kind=self.plan,
            display_size_base=self.plan_display_base,
            slices=self.plan_slices,
            duration_ms=self.plan_duration_ms,
            post_only_retries=self.post_only_retries,
        )

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"


class Settings(BaseSettings):
    """Everything fundingflow reads from the outside world."""

    model_config = SettingsConfigDict(
        env_prefix="FUNDINGFLOW_",
        env_nested_delimiter="__",
        secrets_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    registry: RegistrySettings = RegistrySettings()
    postgres: PostgresSettings = PostgresSettings()
    questdb: QuestDBSettings = QuestDBSettings()
    stack: StackSettings = StackSettings()
    connectors: ConnectorSettings = ConnectorSettings()
    streams: StreamsSettings = StreamsSettings()
    executor: ExecutorSettings = ExecutorSettings()
    log_level: str = "INFO"
    log_json: bool | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - no .env files: env only
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        sources.append(NestedSecretsSettingsSource(file_secret_settings))
        config_file = os.environ.get("FUNDINGFLOW_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; turn every problem into a ``ConfigError`` without secrets."""
    config_file = os.environ.get("FUNDINGFLOW_CONFIG")
    if config_file and not Path(config_file).is_file():
        raise ConfigError(f"FUNDINGFLOW_CONFIG points to {config_file!r}, which is not a file")
    secrets_dir = os.environ.get("FUNDINGFLOW_SECRETS_DIR")
    if secrets_dir and not Path(secrets_dir).is_dir():
        raise ConfigError(
            f"FUNDINGFLOW_SECRETS_DIR points to {secrets_dir!r}, which is not a directory"
        )
    try:
        if secrets_dir:
            return Settings(_secrets_dir=secrets_dir, **overrides)
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def worker_settings(settings: Settings) -> StreamsSettings:
    """The worker's settings with the broker and registry of this deployment."""
    digest = settings.streams.digest_path or settings.stack.home / "run" / "worker-digest.json"
    return settings.streams.model_copy(
        update={
            "bootstrap": settings.kafka.bootstrap,
            "registry_url": settings.registry.url,
            "digest_path": digest.resolve(),
        }
    )
