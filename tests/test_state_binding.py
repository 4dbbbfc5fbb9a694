"""Governed rows are bound to the audit chain (issue 12, points 2 and 3): a row edited, inserted
or deleted in SQLite behind the workbench's back is named by `mlwb audit verify` with the event
it contradicts, and a report build or serving refuses to go on with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.errors import WorkbenchError
from app.services import projects, state_binding
from app.services.audit_trail import append_event
from app.services.serving import ScoringService
from app.services.workbench import Workbench
from storage.database import Database
from storage.models import AuditEvent, Project
from storage.workspace import Workspace
from tests.conftest import raw_registry

REPO = Path(__file__).resolve().parents[1]
DEMO = "ctr-demo"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=300)


def _sql(home: Path, statement: str) -> None:
    con = raw_registry(home)
    try:
        con.execute(statement)
        con.commit()
    finally:
        con.close()


def _event_hashes(home: Path, seq: int) -> dict[str, str]:
    con = raw_registry(home)
    try:
        (payload,) = con.execute("SELECT payload FROM audit_event WHERE seq = ?", (seq,)).fetchone()
    finally:
        con.close()
    return json.loads(payload)["row_hashes"]


def test_a_change_records_the_hash_of_the_row_it_leaves(wb: Workbench) -> None:
    projects.create_project(wb, "churn", name="Churn", problem_type="binary_classification")
    with wb.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "project.created")).one()
        project_id = session.scalars(select(Project.id).where(Project.slug == "churn")).one()
        row = session.execute(select(Project.__table__).where(Project.id == project_id)).mappings().one()
    assert _event_hashes(wb.workspace.home, event.seq) == {f"project/{project_id}": state_binding.row_hash(row)}
    projects.set_inventory(wb, "churn", owner="ana")
    verdict = state_binding.verify_workspace_rows(wb)
    assert verdict.ok and verdict.checked == 2  # the project and my person row
    assert verdict.lines() == ["governed rows OK: 2 rows match the audit events that recorded them"]


def test_audit_verify_names_each_row_changed_behind_the_workbench(demo_home: Path) -> None:
    clean = _cli("audit", "verify")
    assert clean.returncode == 0, clean.stderr
    assert "governed rows OK:" in clean.stdout
    _sql(demo_home, "UPDATE approval SET approver = 'someone_else' WHERE id = 1")
    _sql(demo_home, "UPDATE model_version SET stage = 'archived' WHERE version = 2")
    _sql(demo_home, "INSERT INTO person (name, role, public_key, fingerprint, added_by, created_at) "
                    "VALUES ('mallory', 'admin', 'aa', 'bb', 'mallory', '2026-01-01')")
    _sql(demo_home, "DELETE FROM finding_event WHERE id = 1")
    done = _cli("audit", "verify")
    assert done.returncode == 1
    assert "audit chain OK" in done.stdout  # the events themselves are untouched
    lines = done.stderr.splitlines()
    assert lines[0].startswith("governed rows CHANGED outside the workbench: 4 of ")
    problems = "\n".join(lines[1:])
    assert "approval 1 differs from what audit event" in problems
    assert "model version 2 differs from what audit event" in problems
    assert "person 3 is not recorded by any audit event (inserted outside the workbench)" in problems
    assert "finding event 1 is missing (deleted outside the workbench)" in problems


def test_a_deterministic_rebuild_from_an_edited_copy_is_refused(demo_home: Path, tmp_path: Path) -> None:
    """Point 3: the edited copy keeps its head and digest, so only the rows can tell."""
    first = _cli("report", DEMO, "--deterministic", "--out", str(tmp_path / "a.pdf"))
    assert first.returncode == 0, first.stderr
    _sql(demo_home, "UPDATE approval SET approver = 'mallory' WHERE id = 1")
    done = _cli("report", DEMO, "--deterministic", "--out", str(tmp_path / "b.pdf"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: cannot build the compliance report: the registry was changed outside "
                                  "the workbench: approval 1 differs from what audit event")
    assert not (tmp_path / "b.pdf").exists()


def test_serving_refuses_a_model_row_pointed_at_another_model_file(demo_wb: Workbench) -> None:
    home = demo_wb.workspace.home
    _sql(home, "UPDATE model_version SET artifact_sha256 = (SELECT artifact_sha256 FROM model_version "
               "WHERE version = 3) WHERE stage = 'production'")
    with pytest.raises(WorkbenchError, match=r"cannot serve version \d+ of 'ctr-demo': the registry was changed "
                                             r"outside the workbench: model version \d+ differs from what audit "
                                             r"event \d+ recorded"):
        ScoringService(demo_wb, DEMO, shadow=False)


def test_rows_written_before_binding_are_bound_once_and_never_again(mlwb_home: Path) -> None:
    """A registry from before migration 0006 gets one baseline event binding its rows as they
    are; a baseline setting inserted later cannot bless an edit."""
    Workspace(mlwb_home).ensure()
    old = Database(Workspace(mlwb_home).database_url)
    from alembic import command

    from storage.database import alembic_config
    with old.engine.connect() as connection:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0005")
        connection.commit()
    from app.audit import HeadAnchor, load_key
    ws = Workspace(mlwb_home)
    key = load_key(ws.key_file, ws.identity, chain_has_events=False)
    with old.engine.begin() as connection:  # what the previous version wrote: a row and its event
        connection.exec_driver_sql(
            "INSERT INTO project (slug, name, problem_type, maturity, risk_tier, owner, current_stage, created_at, "
            "created_by) VALUES ('old', 'Old', 'binary_classification', 'startup', 'medium', '', 1, "
            "'2026-01-01 00:00:00', 'ana')")
    with old.write() as session:
        append_event(session, key.secret, HeadAnchor(ws.anchor_file, ws.identity), actor="ana",
                     action="project.created", entity_type="project", entity_id=1, project_slug="old",
                     payload={"name": "Old"})
    old.dispose()

    wb = Workbench.open(ws)
    try:
        with wb.read() as session:
            baseline = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.rows_bound")).one()
        assert json.loads(baseline.payload)["rows"] == 1
        assert state_binding.verify_workspace_rows(wb).ok
    finally:
        wb.close()
    _sql(mlwb_home, "UPDATE project SET name = 'Edited'")
    _sql(mlwb_home, "INSERT INTO workspace_setting (name, value) VALUES ('state_baseline', 'pending')")
    wb = Workbench.open(ws)
    try:
        verdict = state_binding.verify_workspace_rows(wb)
        assert [p.describe() for p in verdict.problems] == [
            f"project 1 differs from what audit event {baseline.seq} recorded"]
    finally:
        wb.close()


def test_rows_bound_before_a_key_rotation_still_check_with_the_key_that_wrote_them(demo_wb: Workbench) -> None:
    from app.services import audit_key

    audit_key.rotate_key(demo_wb)
    projects.create_project(demo_wb, "after", problem_type="binary_classification")
    assert state_binding.verify_workspace_rows(demo_wb).ok
    with ScoringService(demo_wb, DEMO, shadow=False) as service:  # its model row, bound before the rotation
        assert service.health()["status"] == "ok"


def test_an_export_from_an_edited_registry_is_refused(demo_home: Path, tmp_path: Path) -> None:
    _sql(demo_home, "UPDATE model_card SET updated_by = 'mallory'")
    done = _cli("export", DEMO, "--out", str(tmp_path / "bundle.zip"))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "cannot export the compliance report: the registry was changed outside the workbench: model card" \
        in done.stderr
    assert not (tmp_path / "bundle.zip").exists()
