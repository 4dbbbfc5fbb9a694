"""Shared fixtures: every test gets its own workspace in tmp_path, never the user's.

The demo project is built once per test run (small data, real fits in real worker
processes), by whichever xdist worker needs it first while the others wait for it, and each
test that needs it gets a private copy of that workspace.

The registry is the workspace's SQLite file, unless ``MLWB_TEST_DATABASE_URL`` names a
PostgreSQL server (``postgresql+psycopg://USER@HOST:PORT/postgres``, a role that may CREATE
DATABASE): then every workspace a test makes gets a fresh database of its own on that server
(a random name, so xdist workers and parallel runs never meet), dropped when the test ends; a
copy of the demo workspace is ``CREATE DATABASE … TEMPLATE`` the demo's database. Tests that
edit the registry behind the workbench's back (an attacker with database access) do it through
``raw_registry``, which speaks to either.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.jobs import JobRunner
from app.services import people
from app.services.demo import run_demo
from app.services.jobs import WorkbenchLedger
from app.services.workbench import Workbench
from app.signing import SigningKey, new_signing_key, write_private_key
from storage.workspace import Workspace
from tests.registries import (ON_POSTGRESQL, drop_made, raw_registry, registry_url, remember,  # noqa: F401
                              sqlite_only, url_of, use_registry)

DEMO_ROWS = 6_000
DEMO_BATCH_ROWS = 1_500
#: The person every test workspace belongs to: the first registered key, so its admin.
ME = "ana.engineer"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``long`` first: the workers take tests in collection order, so a minute-long
    walk collected last would run alone at the end while the other worker idles."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Drop the PostgreSQL databases this test made (none on SQLite)."""
    yield
    drop_made()


def _isolate(monkeypatch: pytest.MonkeyPatch, home: Path, *, keep: bool = False) -> None:
    monkeypatch.setenv("MLWB_HOME", str(home))
    use_registry(monkeypatch, home, keep=keep)
    monkeypatch.delenv("MLWB_SIGNING_KEY", raising=False)
    # No OS keyring in tests (and never the developer's real one): the file fallback is used.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


def copy_workspace(source: Path, home: Path, monkeypatch: pytest.MonkeyPatch, *, keep: bool = False) -> Path:
    """A private copy of the workspace at ``source`` (closed): its files, and on PostgreSQL a copy
    of its database made with ``CREATE DATABASE … TEMPLATE``; ``MLWB_HOME`` points at it."""
    shutil.copytree(source, home)
    monkeypatch.setenv("MLWB_HOME", str(home))
    use_registry(monkeypatch, home, template_of=source, keep=keep)  # keep: for a module-scoped fixture
    monkeypatch.delenv("MLWB_SIGNING_KEY", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return home


@pytest.fixture
def mlwb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "mlwb-home"
    _isolate(monkeypatch, home)
    return home


def _open_as_me(home: Path) -> Workbench:
    bench = Workbench.open(Workspace(home))
    people.init_me(bench, name=ME)
    return bench


def register_person(wb: Workbench, name: str, role: str = "validator", *, key_dir: Path | None = None) -> SigningKey:
    """Someone else, with a real key registered by the admin (me); saved to ``key_dir/NAME.key``
    when given, for a CLI or TUI test that points ``MLWB_SIGNING_KEY`` at it."""
    key = new_signing_key()
    people.add_person(wb, name, key.public_line, role)
    if key_dir is not None:
        write_private_key(key_dir / f"{name}.key", key)
    return key


@pytest.fixture
def wb(mlwb_home: Path) -> Iterator[Workbench]:
    bench = _open_as_me(mlwb_home)
    yield bench
    bench.close()


@pytest.fixture
def runner(wb: Workbench) -> JobRunner:
    return JobRunner(WorkbenchLedger(wb))


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    # xdist workers each have a base temp folder under one shared by the whole run.
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    home, built = shared / "demo-template" / "mlwb-home", shared / "demo-template.built"
    with open(shared / "demo-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not built.exists():
            shutil.rmtree(home.parent, ignore_errors=True)  # a build that failed half-way
            with pytest.MonkeyPatch.context() as mp:
                _isolate(mp, home, keep=True)
                bench = _open_as_me(home)
                run_demo(bench, JobRunner(WorkbenchLedger(bench)), rows=DEMO_ROWS, batch_rows=DEMO_BATCH_ROWS)
                bench.close()
            (shared / "demo-template.url").write_text(url_of(home))
            built.touch()
    if ON_POSTGRESQL:  # the worker that built it knows its database; the others read its name
        remember(home, (shared / "demo-template.url").read_text())
    return home


@pytest.fixture
def demo_home(demo_template: Path, mlwb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the demo workspace (the engine that built it is closed, WAL checkpointed)."""
    return copy_workspace(demo_template, mlwb_home, monkeypatch)


@pytest.fixture
def demo_wb(demo_home: Path) -> Iterator[Workbench]:
    bench = Workbench.open(Workspace(demo_home))
    yield bench
    bench.close()
