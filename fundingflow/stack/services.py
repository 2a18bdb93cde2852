"""The four services of the local stack and how to install, start and probe each.

The same services, ports and broker settings appear in ``docker-compose.yml``; a test
keeps the two in agreement.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Protocol

from fundingflow.settings import Settings
from fundingflow.stack import downloads
from schemas.errors import StackError

LOG4J = Path(__file__).with_name("kafka-log4j2.properties")
EXTERNAL_ROOT = Path("/var/lib/fundingflow")
"""Where PostgreSQL's data goes when its unprivileged user cannot enter the stack home.

Not /var/tmp: that is world-writable and tmpfiles cleaners delete files untouched for 30 days.
"""


@dataclass(frozen=True, slots=True)
class Health:
    """Result of one probe."""

    healthy: bool
    version: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start a prepared service."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cwd: Path | None = None
    """Working directory of the process (the stack home when ``None``); ``user`` must be
    able to enter it."""


class Service(Protocol):
    """One process of the local stack."""

    name: str
    depends_on: tuple[str, ...]
    stop_signal: int

    def ports(self, settings: Settings) -> dict[str, int]: ...

    def endpoint(self, settings: Settings) -> str: ...

    def prepare(self, settings: Settings, home: Path) -> Launch: ...

    def data_dir(self, home: Path) -> Path | None:
        """Where the service keeps its data (``None`` when it keeps none of its own)."""
        ...

    def probe(self, settings: Settings) -> Health: ...

    def after_start(self, settings: Settings, home: Path) -> None: ...


def _http_get(url: str, timeout_s: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - loopback
            return int(resp.status), resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return 0, str(exc)


def _base_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "HOME", "JAVA_HOME")
    return {k: v for k, v in os.environ.items() if k in keep}


def kafka_broker_config(settings: Settings, data_dir: str) -> dict[str, str]:
    """Broker settings of the single KRaft node (the compose file mirrors these)."""
    k = settings.kafka
    return {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{k.host}:{k.controller_port}",
        "listeners": f"PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{k.host}:{k.port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": data_dir,
        **kafka_cluster_policy(settings),
    }


def kafka_cluster_policy(settings: Settings) -> dict[str, str]:
    """Settings that define behaviour (not addresses); identical in docker-compose."""
    rf = str(settings.kafka.replication_factor)
    return {
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        "min.insync.replicas": str(settings.kafka.min_insync_replicas),
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "log.retention.hours": "168",
    }


def user_can_enter(path: Path, user: str) -> bool:
    """True when ``user`` can change into ``path`` (search permission on it and every parent).

    Asked of the system itself (a shell run as ``user`` does ``cd``), so groups and ACLs count.
    """
    shell = shutil.which("sh") or "/bin/sh"
    result = subprocess.run(
        [shell, "-c", 'cd -- "$1"', "sh", str(path)],
        capture_output=True,
        user=user,
        cwd="/",
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=False,
    )
    return result.returncode == 0


def external_home(home: Path, external_root: Path | None = None) -> Path:
    """The directory outside ``home`` that belongs to the stack at ``home`` (one per home)."""
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return (external_root or EXTERNAL_ROOT) / f"stack-{digest}"


def _initialised(root: Path) -> bool:
    return (root / "data" / "PG_VERSION").is_file()


def postgres_root(
    home: Path,
    user: str | None,
    *,
    can_enter: Callable[[Path, str], bool] = user_can_enter,
    external_root: Path | None = None,
) -> Path:
    """The directory of PostgreSQL's data dir (``data``) and socket dir (``run``).

    ``<home>/postgres`` unless the server runs as another ``user`` (we are root) who cannot
    enter ``home`` (e.g. a clone under /root, mode 0700): then ``postgres`` in
    ``external_home(home)``, under /var/lib/fundingflow. A cluster that already exists stays
    where it is (the registry's schema ids live in it).
    """
    inside = home / "postgres"
    if user is None:
        return inside
    outside = external_home(home, external_root) / "postgres"
    if _initialised(outside):
        return outside
    if _initialised(inside) or can_enter(home, user):
        return inside
    return outside


def make_postgres_root(home: Path, root: Path, user: str) -> None:
    """Create ``root`` and its socket dir, owned by ``user``; outside ``home`` also the
    parents (root's, 0755, with a note naming the stack home) and ``root`` mode 0700."""
    if not root.is_relative_to(home):
        base = root.parent
        for d in (base.parent, base):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)  # the server user must traverse it; only root writes
        (base / "home").write_text(f"{home}\n")
        root.mkdir(exist_ok=True)
        root.chmod(0o700)
    (root / "run").mkdir(parents=True, exist_ok=True)
    for d in (root, root / "run"):
        shutil.chown(d, user=user)


class Postgres:
    """PostgreSQL from Debian's packages, run as an unprivileged user when we are root."""

    name = "postgres"
    depends_on: tuple[str, ...] = ()
    stop_signal: int = signal.SIGINT  # fast shutdown; SIGTERM waits for clients

    def ports(self, settings: Settings) -> dict[str, int]:
        return {"sql": settings.postgres.port}

    def endpoint(self, settings: Settings) -> str:
        p = settings.postgres
        return f"postgresql://{p.host}:{p.port}/{p.database}"

    @staticmethod
    def _run_as() -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise StackError(
                "PostgreSQL refuses to run as root and there is no 'postgres' user; "
                "install the server with `apt-get install postgresql`"
            ) from None
        return "postgres"

    def data_dir(self, home: Path) -> Path | None:
        try:
            user = self._run_as()
        except StackError:
            user = None
        return postgres_root(home.resolve(), user) / "data"

    def prepare(self, settings: Settings, home: Path) -> Launch:
        bindir = downloads.postgres_bindir()
        home = home.resolve()
        home.mkdir(parents=True, exist_ok=True)
        user = self._run_as()
        root = postgres_root(home, user)
        data, sockets = root / "data", root / "run"
        if user is None:
            sockets.mkdir(parents=True, exist_ok=True)
        else:
            make_postgres_root(home, root, user)
            if not user_can_enter(root, user):
                raise StackError(
                    f"PostgreSQL runs as {user!r}, who cannot enter its data directory {root}: "
                    f"make the directories above it traversable for {user!r} (chmod o+x), or "
                    f"remove {root} to start over with an empty database"
                )
        if not (data / "PG_VERSION").is_file():
            shutil.rmtree(data, ignore_errors=True)
            pwfile = root / "initdb.pw"
            pwfile.write_text(settings.postgres.password.get_secret_value() + "\n")
            pwfile.chmod(0o600)
            if user is not None:
                shutil.chown(pwfile, user=user)
            try:
                result = subprocess.run(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(data),
                        "-U",
                        settings.postgres.user,
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        f"--pwfile={pwfile}",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ],
                    capture_output=True,
                    text=True,
                    user=user,
                    cwd=root,
                    check=False,
                )
            finally:
                pwfile.unlink(missing_ok=True)
            if result.returncode != 0:
                raise StackError(f"initdb failed:\n{result.stdout}{result.stderr}")
        p = settings.postgres
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-c",
            f"listen_addresses={p.host}",
            "-c",
            f"port={p.port}",
            "-c",
            f"unix_socket_directories={sockets}",
            "-c",
            "max_connections=200",
        ]
        return Launch(argv=argv, env=_base_env(), user=user, cwd=root)

    def probe(self, settings: Settings) -> Health:
        import psycopg

        try:
            with psycopg.connect(settings.postgres.conninfo("postgres"), connect_timeout=2) as conn:
                row = conn.execute("SHOW server_version").fetchone()
        except psycopg.Error as exc:
            return Health(False, detail=str(exc).splitlines()[0] if str(exc) else "unreachable")
        return Health(True, version=str(row[0]).split(" ")[0] if row else "")

    def after_start(self, settings: Settings, home: Path) -> None:  # noqa: ARG002
        import psycopg

        from fundingflow.stack import migrations

        p = settings.postgres
        with psycopg.connect(p.conninfo("postgres"), autocommit=True) as conn:
            for db in (p.database, p.registry_database):
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,))
                if exists.fetchone() is None:
                    conn.execute(f'CREATE DATABASE "{db}"')
        migrations.apply(settings)


class Kafka:
    """Apache Kafka 4.x in KRaft combined mode, jars from Maven Central."""

    name = "kafka"
    depends_on: tuple[str, ...] = ()
    stop_signal: int = signal.SIGTERM

    def ports(self, settings: Settings) -> dict[str, int]:
        return {"broker": settings.kafka.port, "controller": settings.kafka.controller_port}

    def endpoint(self, settings: Settings) -> str:
        return settings.kafka.bootstrap

    def prepare(self, settings: Settings, home: Path) -> Launch:
        java = downloads.java_executable(settings.stack.java_home)
        libs = downloads.kafka_libs(home, settings.stack.kafka_version).resolve()
        root = (home / "kafka").resolve()
        data = root / "data"
        root.mkdir(parents=True, exist_ok=True)
        config = root / "server.properties"
        props = kafka_broker_config(settings, str(data))
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        classpath = f"{libs}/*"
        log4j = f"-Dlog4j2.configurationFile={LOG4J}"
        if not (data / "meta.properties").is_file():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            storage_tool = [java, log4j, "-cp", classpath, "kafka.tools.StorageTool"]
            result = subprocess.run(
                [*storage_tool, "format", "-t", cluster_id, "-c", str(config)],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{result.stderr[-2000:]}")
        argv = [java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", log4j]
        argv += ["-cp", classpath, "kafka.Kafka", str(config)]
        return Launch(argv=argv, env=_base_env())

    def data_dir(self, home: Path) -> Path | None:
        return home.resolve() / "kafka" / "data"

    def probe(self, settings: Settings) -> Health:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap, "log_level": 0})
        try:
            meta = admin.list_topics(timeout=2)
        except KafkaException as exc:
            return Health(False, detail=str(exc))
        if not meta.brokers:
            return Health(False, detail="no broker in metadata")
        return Health(True, version=settings.stack.kafka_version)

    def after_start(self, settings: Settings, home: Path) -> None:
        pass


class Registry:
    """Apicurio Registry 3.x, used through its Confluent-compatible API, stored in PostgreSQL."""

    name = "registry"
    depends_on: tuple[str, ...] = ("postgres",)
    stop_signal: int = signal.SIGTERM

    def ports(self, settings: Settings) -> dict[str, int]:
        return {"http": settings.registry.port}

    def endpoint(self, settings: Settings) -> str:
        return settings.registry.url

    def prepare(self, settings: Settings, home: Path) -> Launch:
        java = downloads.java_executable(settings.stack.java_home)
        runner = downloads.apicurio_runner(home, settings.stack.apicurio_version).resolve()
        env = {**_base_env(), **registry_environment(settings)}
        argv = [java, "-Xms128m", "-Xmx512m", "-jar", str(runner)]
        return Launch(argv=argv, env=env)

    def data_dir(self, home: Path) -> Path | None:  # noqa: ARG002 - stored in PostgreSQL
        return None

    def probe(self, settings: Settings) -> Health:
        base = settings.registry.base_url
        code, _ = _http_get(f"{base}/health/ready")
        if code != 200:
            return Health(False, detail=f"/health/ready answered {code or 'nothing'}")
        code, body = _http_get(f"{settings.registry.url}/subjects")
        if code != 200:
            return Health(False, detail=f"ccompat /subjects answered {code or 'nothing'}")
        code, body = _http_get(f"{base}/apis/registry/v3/system/info")
        version = json.loads(body).get("version", "") if code == 200 else ""
        return Health(True, version=f"apicurio {version}".strip())

    def after_start(self, settings: Settings, home: Path) -> None:
        pass


def registry_environment(settings: Settings) -> dict[str, str]:
    """Apicurio configuration (also used verbatim by docker-compose)."""
    p = settings.postgres
    return {
        "QUARKUS_HTTP_HOST": settings.registry.host,
        "QUARKUS_HTTP_PORT": str(settings.registry.port),
        "APICURIO_STORAGE_KIND": "sql",
        "APICURIO_STORAGE_SQL_KIND": "postgresql",
        "APICURIO_DATASOURCE_URL": f"jdbc:postgresql://{p.host}:{p.port}/{p.registry_database}",
        "APICURIO_DATASOURCE_USERNAME": p.user,
        "APICURIO_DATASOURCE_PASSWORD": p.password.get_secret_value(),
        "APICURIO_REST_DELETION_ARTIFACT_ENABLED": "true",
        "APICURIO_REST_DELETION_ARTIFACT_VERSION_ENABLED": "true",
        "APICURIO_REST_DELETION_GROUP_ENABLED": "true",
    }


class QuestDB:
    """QuestDB from Maven Central: ILP over HTTP and TCP, PostgreSQL wire port."""

    name = "questdb"
    depends_on: tuple[str, ...] = ()
    stop_signal: int = signal.SIGTERM

    def ports(self, settings: Settings) -> dict[str, int]:
        q = settings.questdb
        return {
            "http": q.http_port,
            "http-min": q.http_min_port,
            "pg": q.pg_port,
            "ilp": q.ilp_tcp_port,
        }

    def endpoint(self, settings: Settings) -> str:
        return settings.questdb.http_url

    def prepare(self, settings: Settings, home: Path) -> Launch:
        java = downloads.java_executable(settings.stack.java_home)
        jar = downloads.questdb_jar(home, settings.stack.questdb_version).resolve()
        root = (home / "questdb").resolve()
        (root / "conf").mkdir(parents=True, exist_ok=True)
        conf = questdb_config(settings)
        (root / "conf" / "server.conf").write_text("".join(f"{k}={v}\n" for k, v in conf.items()))
        argv = [java, "-Xms256m", "-Xmx1g", "-p", str(jar)]
        argv += ["-m", "io.questdb/io.questdb.ServerMain", "-d", str(root)]
        return Launch(argv=argv, env=_base_env())

    def data_dir(self, home: Path) -> Path | None:
        return home.resolve() / "questdb"

    def probe(self, settings: Settings) -> Health:
        query = "select%20build()"
        code, body = _http_get(f"{settings.questdb.http_url}/exec?query={query}")
        if code != 200:
            return Health(False, detail=f"/exec answered {code or 'nothing'}")
        try:
            build = str(json.loads(body)["dataset"][0][0])
        except (ValueError, KeyError, IndexError):
            return Health(False, detail="unexpected /exec answer")
        version = build.split(",")[0].replace("Build Information: ", "")
        return Health(True, version=version)

    def after_start(self, settings: Settings, home: Path) -> None:
        pass


def questdb_config(settings: Settings) -> dict[str, str]:
    q = settings.questdb
    return {
        "http.bind.to": f"{q.host}:{q.http_port}",
        "http.min.net.bind.to": f"{q.host}:{q.http_min_port}",
        "pg.net.bind.to": f"{q.host}:{q.pg_port}",
        "line.tcp.net.bind.to": f"{q.host}:{q.ilp_tcp_port}",
        "line.udp.enabled": "false",
        "telemetry.enabled": "false",
    }


SERVICES: tuple[Service, ...] = (Postgres(), Kafka(), Registry(), QuestDB())


def by_name(name: str) -> Service:
    for service in SERVICES:
        if service.name == name:
            return service
    known = ", ".join(s.name for s in SERVICES)
    raise StackError(f"unknown service {name!r}; known services: {known}")
