"""Where PostgreSQL keeps its data when we are root and the clone is under a 0700 parent.

``initdb`` and ``postgres`` run as the ``postgres`` user; under /root (drwx------) that user
cannot enter the stack home, so the data dir must live elsewhere — and only then.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fundingflow.settings import Settings
from fundingflow.settings import StackSettings
from fundingflow.stack import services
from fundingflow.stack.manager import Stack
from fundingflow.stack.services import external_home
from fundingflow.stack.services import make_postgres_root
from fundingflow.stack.services import postgres_root
from fundingflow.stack.services import user_can_enter
from schemas.errors import StackError


def _never(_path: Path, _user: str) -> bool:
    return False


def _always(_path: Path, _user: str) -> bool:
    return True


def _initialise(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "data" / "PG_VERSION").write_text("15\n")


def test_not_root_keeps_the_data_in_the_stack_home(tmp_path: Path) -> None:
    assert postgres_root(tmp_path, None, can_enter=_never) == tmp_path / "postgres"


def test_root_keeps_the_data_in_the_home_when_the_server_user_can_enter_it(
    tmp_path: Path,
) -> None:
    root = postgres_root(tmp_path, "postgres", can_enter=_always, external_root=tmp_path / "x")
    assert root == tmp_path / "postgres"


def test_root_moves_the_data_out_of_a_home_the_server_user_cannot_enter(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    root = postgres_root(home, "postgres", can_enter=_never, external_root=outside)
    assert root == external_home(home, outside) / "postgres"
    assert not root.is_relative_to(home)


def test_an_existing_cluster_stays_where_it_is(tmp_path: Path) -> None:
    home, outside = tmp_path / "home", tmp_path / "outside"
    _initialise(external_home(home, outside) / "postgres")
    moved = postgres_root(home, "postgres", can_enter=_always, external_root=outside)
    assert moved == external_home(home, outside) / "postgres", "reachable now, data stays out"

    other = tmp_path / "other"
    _initialise(other / "postgres")
    kept = postgres_root(other, "postgres", can_enter=_never, external_root=outside)
    assert kept == other / "postgres", "never silently a second, empty cluster"


def test_each_stack_home_has_its_own_outside_directory(tmp_path: Path) -> None:
    a, b = external_home(tmp_path / "a"), external_home(tmp_path / "b")
    assert a != b
    assert a.parent == services.EXTERNAL_ROOT
    assert external_home(tmp_path / "a" / ".." / "a") == a, "named after the resolved home"


@pytest.fixture
def private_home(tmp_path: Path) -> Iterator[Path]:
    """A stack home inside a clone under a directory only root can enter (like /root)."""
    if os.geteuid() != 0:
        pytest.skip("only root runs PostgreSQL as another user (needs uid 0)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no 'postgres' user (apt-get install postgresql)")
    private = tmp_path / "private"
    private.mkdir()
    private.chmod(0o700)
    home = private / "fundingflow" / ".local"
    home.mkdir(parents=True)
    home.chmod(0o755)
    yield home
    shutil.rmtree(external_home(home), ignore_errors=True)


def test_as_root_under_a_0700_parent_the_data_dir_is_outside_and_reachable(
    private_home: Path,
) -> None:
    old_layout = private_home / "postgres"
    assert not user_can_enter(private_home, "postgres"), "twin: the old layout is unreachable"

    root = postgres_root(private_home, "postgres")
    make_postgres_root(private_home, root, "postgres")
    assert root != old_layout
    assert not root.is_relative_to(private_home.parent.parent)
    assert user_can_enter(root, "postgres")
    assert user_can_enter(root / "run", "postgres")
    assert root.stat().st_uid == pwd.getpwnam("postgres").pw_uid
    assert root.stat().st_mode & 0o777 == 0o700
    assert (root.parent / "home").read_text().strip() == str(private_home)


def test_clean_removes_the_home_and_the_directory_outside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "EXTERNAL_ROOT", tmp_path / "var-lib")
    home = tmp_path / "clone" / ".local"
    (home / "run").mkdir(parents=True)
    outside = external_home(home)
    _initialise(outside / "postgres")
    settings = Settings(stack=StackSettings(home=home))
    assert Stack(settings).clean() == [outside, home.resolve()]
    assert not outside.exists()
    assert not home.exists()
    assert not (tmp_path / "var-lib").exists(), "the shared parent goes once it is empty"
    assert Stack(settings).clean() == [], "cleaning twice is fine"


@pytest.mark.parametrize("home", [Path("/"), Path.home()])
def test_clean_refuses_to_delete_a_home_that_is_not_the_stacks_own(home: Path) -> None:
    with pytest.raises(StackError, match="refusing to delete"):
        Stack(Settings(stack=StackSettings(home=home))).clean()


def test_clean_refuses_to_delete_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StackError, match="refusing to delete"):
        Stack(Settings(stack=StackSettings(home=Path(".")))).clean()
    assert tmp_path.is_dir()
