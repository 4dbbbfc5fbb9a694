"""The tamper-evident audit trail: real service changes, then real edits to the SQLite file.

Each tampering test changes the database the way someone with file access could (sqlite3 on
the registry file, bypassing the services) and checks that verification names the first
broken link. The CLI contract is checked against a real ``python -m app.cli`` process.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path


import pytest

from app.services import audit_trail, deliverables, projects
from app.services.identity import login_name
from app.services.workbench import Workbench
from storage.workspace import Workspace
from tests.conftest import raw_registry

REPO = Path(__file__).resolve().parents[1]
OK_RE = re.compile(r"^audit chain OK: (\d+) events, head (\d+) ([0-9a-f]{64})$")


@pytest.fixture
def wb(mlwb_home: Path) -> Workbench:
    """A workspace whose chain starts empty: nobody registered yet (the chain, not identity, is
    under test here), so every event's actor is the login name."""
    bench = Workbench.open(Workspace(mlwb_home))
    yield bench
    bench.close()


def _changes(wb: Workbench) -> int:
    """Five audited changes through the services; returns the event count."""
    projects.create_project(wb, "churn", problem_type="binary_classification")
    projects.create_project(wb, "fraud", problem_type="binary_classification", maturity="enterprise")
    deliverables.save_problem_statement(wb, "churn", {"objective": "Keep customers", "ml_metric_threshold": "0.7"})
    deliverables.save_ml_checklist(wb, "churn", {"pattern_exists": True, "data_available": True})
    deliverables.save_problem_statement(wb, "fraud", {"objective": "Stop fraud"})
    verdict = audit_trail.verify(wb)
    assert verdict.ok and verdict.count == 5, verdict.describe()
    return verdict.count


def _tamper(wb: Workbench, *statements: tuple[str, tuple]) -> None:
    """Run raw SQL on the registry file, outside the services and their audit events."""
    wb.db.engine.dispose()
    con = raw_registry(wb.workspace.database_path)
    try:
        for sql, params in statements:
            con.execute(sql, params)
        con.commit()
    finally:
        con.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, timeout=120,
    )


def test_untouched_chain_verifies_with_count_and_head(wb: Workbench) -> None:
    empty = audit_trail.verify(wb)
    assert empty.ok and empty.count == 0 and empty.head is None
    assert empty.describe() == "audit chain OK: 0 events, empty chain"

    count = _changes(wb)
    verdict = audit_trail.verify(wb)
    head, n = audit_trail.head(wb)
    assert verdict.ok and verdict.first_bad_seq is None
    assert verdict.count == n == count == 5
    assert verdict.head == head and head.seq == 5
    assert re.fullmatch(r"[0-9a-f]{64}", head.hash)
    assert OK_RE.match(verdict.describe())
    # Each event links to the one before it.
    events = sorted(audit_trail.recent_events(wb), key=lambda e: e.seq)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert [e.action for e in events] == [
        "project.created", "project.created", "problem_statement.saved", "ml_checklist.saved",
        "problem_statement.saved",
    ]
    assert {e.actor for e in events} == {login_name()}


def test_a_check_through_a_documents_head_runs_in_a_child_process(wb: Workbench) -> None:
    """``ChainCheck`` (what a report build hands its rendering worker) verifies the chain through
    the head a document was collected at, with the same evidence digest as the workspace's own
    verification at that head; later events are not its business, a changed head is."""
    import multiprocessing

    _changes(wb)
    head, _ = audit_trail.head(wb)
    expected = audit_trail.verify_with_digest(wb)
    projects.create_project(wb, "later", problem_type="regression")  # event 6, after the document
    check = audit_trail.chain_check(wb, head.seq, head.hash)
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # pickled and run as a worker would
        verdict, digest = pool.apply(check.run)
    assert (verdict, digest) == expected and verdict.ok and verdict.count == 5 and verdict.head == head

    forged = audit_trail.chain_check(wb, head.seq, "f" * 64)
    verdict, digest = forged.run()
    assert not verdict.ok and verdict.first_bad_seq == 5 and "differs from the head" in verdict.reason
    assert digest == ""
    beyond = audit_trail.chain_check(wb, 9, "f" * 64).run()[0]
    assert not beyond.ok and beyond.first_bad_seq == 7 and "truncated" in beyond.reason


def test_edited_payload_is_named_as_the_first_bad_event(wb: Workbench) -> None:
    _changes(wb)
    _tamper(wb, ("UPDATE audit_event SET payload = replace(payload, '0.7', '0.5') WHERE seq = 3", ()))
    verdict = audit_trail.verify(wb)
    assert not verdict.ok
    assert verdict.first_bad_seq == 3
    assert "edited" in verdict.reason
    assert verdict.count == 2 and verdict.head.seq == 2
    assert verdict.describe().startswith("audit chain BROKEN at event 3")


def test_edited_actor_is_named_as_the_first_bad_event(wb: Workbench) -> None:
    _changes(wb)
    _tamper(wb, ("UPDATE audit_event SET actor = 'someone.else' WHERE seq = 2", ()))
    verdict = audit_trail.verify(wb)
    assert not verdict.ok and verdict.first_bad_seq == 2
    assert "edited" in verdict.reason


def test_deleted_middle_event_is_named(wb: Workbench) -> None:
    _changes(wb)
    _tamper(wb, ("DELETE FROM audit_event WHERE seq = 3", ()))
    verdict = audit_trail.verify(wb)
    assert not verdict.ok and verdict.first_bad_seq == 3
    assert "missing" in verdict.reason


def test_swapped_events_are_named_at_the_first_moved_seq(wb: Workbench) -> None:
    _changes(wb)
    _tamper(
        wb,
        ("UPDATE audit_event SET seq = -1 WHERE seq = 2", ()),
        ("UPDATE audit_event SET seq = 2 WHERE seq = 4", ()),
        ("UPDATE audit_event SET seq = 4 WHERE seq = -1", ()),
    )
    verdict = audit_trail.verify(wb)
    assert not verdict.ok and verdict.first_bad_seq == 2
    assert verdict.count == 1


def test_truncation_is_caught_by_the_head_anchor(wb: Workbench) -> None:
    _changes(wb)
    _tamper(wb, ("DELETE FROM audit_event WHERE seq > 3", ()))
    verdict = audit_trail.verify(wb)
    assert not verdict.ok and verdict.first_bad_seq == 4
    assert "truncated" in verdict.reason


def test_truncation_then_a_real_append_leaves_a_visible_gap(wb: Workbench) -> None:
    count = _changes(wb)
    _tamper(wb, ("DELETE FROM audit_event WHERE seq > ?", (count - 2,)))
    # A real service call after the truncation continues after the anchor, not the rows.
    projects.create_project(wb, "after-truncation", problem_type="regression")
    seqs = sorted(e.seq for e in audit_trail.recent_events(wb))
    assert seqs == [1, 2, 3, count + 1]
    verdict = audit_trail.verify(wb)
    assert not verdict.ok
    assert verdict.first_bad_seq == count - 1
    assert "missing" in verdict.reason


def test_key_file_is_private_and_the_notice_is_shown_only_on_first_open(mlwb_home: Path) -> None:
    first = Workbench.open(Workspace(mlwb_home))
    try:
        key_file = first.workspace.key_file
        assert key_file.is_file()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert len(first.notices) == 1
        assert str(key_file) in first.notices[0]
        assert re.fullmatch(r"[0-9a-f]{64}", key_file.read_text().strip())
        projects.create_project(first, "keyed", problem_type="ranking")
    finally:
        first.close()

    second = Workbench.open(Workspace(mlwb_home))
    try:
        assert second.notices == []
        assert second.key.secret == first.key.secret
        # The same key verifies what the first session wrote.
        verdict = audit_trail.verify(second)
        assert verdict.ok and verdict.count == 1
    finally:
        second.close()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_cli_verify_reports_ok_then_names_the_tampered_event(wb: Workbench) -> None:
    count = _changes(wb)
    head, _ = audit_trail.head(wb)

    ok = _cli("audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "Traceback" not in ok.stderr
    lines = ok.stdout.strip().splitlines()
    assert len(lines) == 3 and re.fullmatch(r"evidence digest [0-9a-f]{64}", lines[1])
    assert lines[2] == "governed rows OK: 5 rows match the audit events that recorded them"  # 2 projects, 2 documents, me
    match = OK_RE.match(lines[0])
    assert match, lines[0]
    assert (int(match[1]), int(match[2]), match[3]) == (count, head.seq, head.hash)

    _tamper(wb, ("UPDATE audit_event SET payload = '{}' WHERE seq = 4", ()))
    broken = _cli("audit", "verify")
    assert broken.returncode == 1
    assert "Traceback" not in broken.stderr
    assert "audit chain BROKEN at event 4" in broken.stdout + broken.stderr
    assert "audit chain OK" not in broken.stdout
