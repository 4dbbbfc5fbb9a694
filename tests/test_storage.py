"""Storage: migrations, SQLite settings, and concurrent writers keeping the audit chain whole."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.services import audit_trail, projects
from app.services.workbench import Workbench
from storage.database import Database, alembic_config, schema_head
from storage.models import Base
from storage.workspace import Workspace
from tests.conftest import ON_POSTGRESQL, raw_registry, sqlite_only, url_of


def test_migrations_have_one_head_and_match_the_models(tmp_path: Path) -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert schema_head() == script.get_current_head()  # what an open compares the registry with
    db = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    db.upgrade()
    db.upgrade()  # a second open is a no-op
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations disagree; write a migration: {diff}"
    db.dispose()


@sqlite_only  # PRAGMAs
def test_sqlite_connections_use_the_crash_safe_settings(wb: Workbench) -> None:
    with wb.db.engine.connect() as connection:
        pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 15000}


def _create_projects(home: str, writer: int, count: int) -> None:
    import os

    os.environ["MLWB_HOME"] = home
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    bench = Workbench.open(Workspace(Path(home)))
    for i in range(count):
        projects.create_project(bench, f"p{writer}-{i}", problem_type="regression")
    bench.close()


def test_concurrent_writer_processes_lose_no_event(wb: Workbench, mlwb_home: Path) -> None:
    writers, each = 3, 15
    ctx = multiprocessing.get_context("spawn")
    processes = [ctx.Process(target=_create_projects, args=(str(mlwb_home), w, each)) for w in range(writers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0
    verdict = audit_trail.verify(wb)
    assert verdict.ok and verdict.count == writers * each + 1  # and the fixture's person.added
    assert len(projects.list_projects(wb)) == writers * each


def test_a_failed_unit_of_work_leaves_neither_change_nor_event(wb: Workbench) -> None:
    projects.create_project(wb, "kept", problem_type="regression")
    head = audit_trail.head(wb)
    with pytest.raises(RuntimeError), wb.unit_of_work() as uow:
        project = uow.project("kept")
        project.name = "renamed"
        uow.audit("project.renamed", "project", project.id, project="kept", name="renamed")
        raise RuntimeError("crash between the change and the commit")
    assert audit_trail.head(wb) == head
    assert projects.project_summary(wb, "kept").name == "kept"
    connection = raw_registry(wb.workspace.database_path)
    assert connection.execute("select count(*) from audit_event").fetchone()[0] == head[1]
    connection.close()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="needs a PostgreSQL server: set MLWB_TEST_DATABASE_URL")
def test_postgresql_migrations_match_the_models_and_every_writer_holds_the_writer_lock(mlwb_home: Path) -> None:
    """On PostgreSQL the migrations (0004 once used MAX over a boolean) build the models' schema,
    and a write transaction holds the advisory lock that serialises the chain's appends, while a
    reader takes none and cannot write."""
    from sqlalchemy import text
    from sqlalchemy.exc import InternalError

    from storage.database import PG_WRITER_LOCK

    db = Database(url_of(mlwb_home))
    db.upgrade()
    db.upgrade()
    with db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == [], f"models and migrations disagree on PostgreSQL: {diff}"
    held = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND (classid::bigint << 32 | objid::bigint) = :key")
    with db.write() as writer:
        writer.execute(text("SELECT 1"))
        with db.read() as reader:
            assert reader.execute(held, {"key": PG_WRITER_LOCK}).scalar() == 1
    with db.read() as reader:
        assert reader.execute(held, {"key": PG_WRITER_LOCK}).scalar() == 0
    with pytest.raises(InternalError, match="read-only transaction"), db.read() as reader:
        reader.execute(text("DELETE FROM audit_event"))
    db.dispose()
