"""Background processes of the local stack: spawn, pid files, liveness, stop.

Each service has ``<home>/run/<name>.pid`` (the process group leader), an
``<name>.owner`` tag naming who started it (so ``down --owner`` stops only what one
caller started) and a log file ``<home>/logs/<name>.log``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ProcessFiles:
    """Where one service keeps its pid, owner tag and log."""

    run_dir: Path
    log_dir: Path
    name: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def owner_file(self) -> Path:
        return self.run_dir / f"{self.name}.owner"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The recorded pid if that process is still alive, else ``None``."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def owner(self) -> str | None:
        try:
            return self.owner_file.read_text().strip() or None
        except OSError:
            return None

    def clear(self) -> None:
        for path in (self.pid_file, self.owner_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def port_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` (a bind succeeds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_listening(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def spawn(
    files: ProcessFiles,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    owner: str,
    user: str | None = None,
) -> int:
    """Start ``argv`` in its own session with output appended to the service log."""
    files.run_dir.mkdir(parents=True, exist_ok=True)
    files.log_dir.mkdir(parents=True, exist_ok=True)
    with files.log_file.open("ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {argv[0]}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            user=user,
        )
    files.pid_file.write_text(f"{proc.pid}\n")
    files.owner_file.write_text(f"{owner}\n")
    return proc.pid


def stop(files: ProcessFiles, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> bool:
    """Stop the recorded process group: ``sig``, then SIGKILL after ``timeout_s``.

    Returns True when a live process was stopped.
    """
    pid = files.pid()
    if pid is None:
        files.clear()
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        kill_deadline = time.monotonic() + 10
        while time.monotonic() < kill_deadline and pid_alive(pid):
            time.sleep(0.1)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    files.clear()
    return True


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file (empty when missing)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
