from __future__ import annotations

import sys
import time
from pathlib import Path

from fundingflow.supervisor import Child
from fundingflow.supervisor import Supervisor


def test_children_start_and_stop_cleanly(tmp_path: Path) -> None:
    child = Child("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "s")
    supervisor = Supervisor([child], grace_s=5)
    supervisor.start()
    assert child.running
    started = time.monotonic()
    supervisor.stop()
    assert not child.running
    assert time.monotonic() - started < 5


def test_an_exited_child_is_restarted_with_backoff(tmp_path: Path) -> None:
    child = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "c")
    supervisor = Supervisor([child], max_backoff_s=0.2)
    supervisor.start()
    assert child.process is not None
    child.process.wait(timeout=10)
    notes = supervisor.poll()
    assert child.last_exit == 3
    assert "exited with code 3" in notes[0]
    time.sleep(0.3)
    assert supervisor.poll() == ["crasher restarted (attempt 1)"]
    supervisor.stop()


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    child = Child("stubborn", [sys.executable, "-c", code], tmp_path / "t")
    supervisor = Supervisor([child], grace_s=0.5)
    supervisor.start()
    time.sleep(0.3)
    supervisor.stop()
    assert not child.running
    assert child.last_exit is not None
    assert child.last_exit < 0


def test_the_last_started_child_stops_first_while_the_others_still_run(tmp_path: Path) -> None:
    """The executor (started last) still reaches the connectors' gateway while it stops."""
    marks = tmp_path / "marks"
    marks.mkdir()
    code = (
        "import pathlib, signal, sys, time\n"
        "d = pathlib.Path(sys.argv[1]); me = sys.argv[2]\n"
        "def bye(*_):\n"
        "    alive = sorted(p.name for p in d.iterdir() if p.suffix == '.up')\n"
        "    (d / (me + '.seen')).write_text(','.join(alive))\n"
        "    time.sleep(0.3); (d / (me + '.up')).unlink(); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "(d / (me + '.up')).write_text('')\n"
        "time.sleep(60)\n"
    )
    children = [
        Child(name, [sys.executable, "-c", code, str(marks), name], tmp_path / name)
        for name in ("connectors", "executor")
    ]
    supervisor = Supervisor(children, grace_s=5)
    supervisor.start()
    deadline = time.monotonic() + 10
    while len(list(marks.glob("*.up"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    supervisor.stop()
    assert (marks / "executor.seen").read_text() == "connectors.up,executor.up"
    assert (marks / "connectors.seen").read_text() == "connectors.up"
