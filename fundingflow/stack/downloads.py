"""Fetch the stack's Java services from Maven Central into ``<home>/dist`` (cached)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from schemas.errors import StackError

POM = Path(__file__).with_name("kafka-pom.xml")


def require_tool(name: str, hint: str) -> str:
    """Path of an executable on PATH, or a ``StackError`` saying how to install it."""
    path = shutil.which(name)
    if path is None:
        raise StackError(f"'{name}' was not found on PATH; {hint}")
    return path


def java_executable(java_home: Path | None) -> str:
    if java_home is not None:
        candidate = java_home / "bin" / "java"
        if not candidate.is_file():
            raise StackError(f"FUNDINGFLOW_STACK__JAVA_HOME={java_home} has no bin/java")
        return str(candidate)
    return require_tool(
        "java", "install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`"
    )


def _maven(home: Path, args: list[str], cwd: Path) -> None:
    mvn = require_tool("mvn", "install Maven, e.g. `apt-get install maven`")
    cmd = [mvn, "-B", "-q", f"-Dmaven.repo.local={(home / 'm2').resolve()}", *args]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail_lines = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise StackError(f"Maven failed ({' '.join(args[:2])}):\n{tail_lines}")


def kafka_libs(home: Path, version: str) -> Path:
    """Directory of jars for Apache Kafka ``version`` (broker + runtime dependencies)."""
    target = home / "dist" / f"kafka-{version}"
    libs = target / "libs"
    marker = target / ".complete"
    if marker.is_file():
        return libs
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy(POM, target / "pom.xml")
    _maven(
        home,
        [
            "dependency:copy-dependencies",
            f"-Dkafka.version={version}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs.resolve()}",
        ],
        cwd=target,
    )
    if not any(libs.glob(f"kafka_2.13-{version}.jar")):
        raise StackError(f"Maven resolved no kafka_2.13-{version}.jar into {libs}")
    marker.write_text(version)
    return libs


def _copy_artifact(home: Path, coordinates: str, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    _maven(
        home,
        ["dependency:copy", f"-Dartifact={coordinates}", f"-DoutputDirectory={out_dir.resolve()}"],
        cwd=out_dir,
    )


def apicurio_runner(home: Path, version: str) -> Path:
    """The runner jar of Apicurio Registry ``version`` (its ``all`` tar.gz, unpacked)."""
    target = home / "dist" / f"apicurio-{version}"
    runner = target / f"apicurio-registry-app-{version}-runner.jar"
    marker = target / ".complete"
    if marker.is_file() and runner.is_file():
        return runner
    shutil.rmtree(target, ignore_errors=True)
    _copy_artifact(home, f"io.apicurio:apicurio-registry-app:{version}:tar.gz:all", target)
    archive = target / f"apicurio-registry-app-{version}-all.tar.gz"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    archive.unlink()
    if not runner.is_file():
        raise StackError(f"the Apicurio {version} distribution has no {runner.name}")
    marker.write_text(version)
    return runner


def questdb_jar(home: Path, version: str) -> Path:
    """The QuestDB server jar ``version`` (native libraries for linux-x86-64 inside)."""
    target = home / "dist" / f"questdb-{version}"
    jar = target / f"questdb-{version}.jar"
    if jar.is_file():
        return jar
    _copy_artifact(home, f"org.questdb:questdb:{version}", target)
    if not jar.is_file():
        raise StackError(f"Maven resolved no {jar.name}")
    return jar


def postgres_bindir() -> Path:
    """Directory holding ``initdb`` and ``postgres`` (Debian's layout or PATH)."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    if debian:
        return debian[0].parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise StackError(
        "PostgreSQL server binaries (initdb, postgres) were not found; "
        "install them with `apt-get install postgresql`"
    )
