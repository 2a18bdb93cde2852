"""A supervised process group: start children, watch them, stop them all cleanly.

Used by ``fundingflow run`` to run connectors and the worker as one unit. A child that
exits is restarted with bounded exponential backoff; Ctrl-C (or ``stop()``) sends SIGTERM
to each child, the last started first, then SIGKILL to those still alive after a grace period.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path


@dataclass
class Child:
    """One supervised command and its current process."""

    name: str
    argv: list[str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start_s: float = 0.0
    last_exit: int | None = None
    started_s: float = field(default=0.0)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Supervisor:
    """Start, watch and stop a group of child processes."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        env: dict[str, str] | None = None,
        max_backoff_s: float = 30.0,
        grace_s: float = 15.0,
    ) -> None:
        self.children = list(children)
        self._env = {**os.environ, **(env or {})}
        self._max_backoff_s = max_backoff_s
        self._grace_s = grace_s

    def _spawn(self, child: Child) -> None:
        child.log_path.parent.mkdir(parents=True, exist_ok=True)
        with child.log_path.open("ab") as log:
            child.process = subprocess.Popen(
                child.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                start_new_session=True,
            )
        child.started_s = time.monotonic()

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)

    def poll(self) -> list[str]:
        """Restart children that exited (after backoff); returns notes on what happened."""
        notes = []
        now = time.monotonic()
        for child in self.children:
            if child.process is None or child.running:
                if child.process is None and now >= child.next_start_s:
                    self._spawn(child)
                    notes.append(f"{child.name} restarted (attempt {child.restarts})")
                continue
            child.last_exit = child.process.returncode
            child.process = None
            child.restarts += 1
            uptime = now - child.started_s
            backoff = min(self._max_backoff_s, 2.0 ** min(child.restarts, 5))
            if uptime > 60:
                backoff = 1.0
            child.next_start_s = now + backoff
            notes.append(
                f"{child.name} exited with code {child.last_exit}; restart in {backoff:.0f}s "
                f"(log: {child.log_path})"
            )
        return notes

    def stop(self) -> None:
        """Stop the children in reverse start order, each waited for before the next: a child
        may use those started before it (the executor reads the connectors' order gateway as
        it stops). SIGTERM to the child's process group, SIGKILL after its grace period."""
        for child in reversed(self.children):
            if child.process is None:
                continue
            if child.running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGTERM)
            try:
                child.process.wait(timeout=self._grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(timeout=10)
            child.last_exit = child.process.returncode
