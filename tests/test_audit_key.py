"""The audit key cannot silently change: once a chain has events, a missing, empty, malformed or
different key stops every verb with one clear line (exit 2) and nothing is written; a key is
created only for an empty workspace. Driven through the real CLI on real files."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from app.audit import KEYRING_SERVICE
from app.services import audit_trail, projects
from app.services.workbench import Workbench
from storage.workspace import Workspace
from tests.conftest import raw_registry, sqlite_only

REPO = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def keyed_home(mlwb_home: Path) -> Path:
    """A workspace with a few events, closed."""
    wb = Workbench.open(Workspace(mlwb_home))
    projects.create_project(wb, "churn", problem_type="binary_classification")
    wb.close()
    return mlwb_home


def _one_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def _events(home: Path) -> int:
    wb = Workbench.open(Workspace(home))
    try:
        return audit_trail.head(wb)[1]
    finally:
        wb.close()


def test_a_deleted_key_is_an_error_that_says_where_it_was_and_no_new_key_is_made(keyed_home: Path) -> None:
    key_file = keyed_home / "audit.key"
    saved = key_file.read_text()
    key_file.unlink()
    for verb in (("projects",), ("audit", "verify")):
        message = _one_error(_cli(*verb))
        assert "the audit key is missing" in message and str(key_file) in message
        assert f"{KEYRING_SERVICE}/" in message and "Restore the key file from your backup" in message
        assert not key_file.exists()
    key_file.write_text(saved)
    key_file.chmod(0o600)
    assert _cli("audit", "verify").returncode == 0


@pytest.mark.parametrize(("content", "expected"), [
    ("", "is empty"),
    ("   \n", "is empty"),
    ("not-a-key\n", "is not a hex key"),
    ("abcd\n", "is not a hex key"),
])
def test_an_empty_or_malformed_key_is_refused(keyed_home: Path, content: str, expected: str) -> None:
    (keyed_home / "audit.key").write_text(content)
    message = _one_error(_cli("projects"))
    assert expected in message and str(keyed_home / "audit.key") in message


@sqlite_only  # compares the registry file's bytes
def test_a_different_key_is_refused_before_anything_is_written(keyed_home: Path) -> None:
    before = (keyed_home / "registry.sqlite3").read_bytes()
    (keyed_home / "audit.key").write_text(secrets.token_hex(32) + "\n")
    message = _one_error(_cli("projects", "new", "fraud", "--problem-type", "binary_classification"))
    assert "did not write this chain (event 1 does not verify with it)" in message
    assert (keyed_home / "registry.sqlite3").read_bytes() == before


def test_an_edited_newest_event_still_opens_so_verify_can_name_it(keyed_home: Path) -> None:
    wb = Workbench.open(Workspace(keyed_home))
    projects.create_project(wb, "fraud", problem_type="binary_classification")
    wb.close()
    con = raw_registry(keyed_home)
    con.execute("update audit_event set actor = 'mallory' where seq = 2")
    con.commit()
    con.close()
    done = _cli("audit", "verify")
    assert done.returncode == 1 and "BROKEN at event 2" in done.stdout + done.stderr


def test_a_key_path_that_is_a_directory_is_refused(keyed_home: Path) -> None:
    (keyed_home / "audit.key").unlink()
    (keyed_home / "audit.key").mkdir()
    assert "is not a file" in _one_error(_cli("projects"))


@pytest.mark.parametrize("anchor", ['[1, 2]', '{"x": 1}', "{not json"])
def test_a_malformed_head_anchor_is_one_clear_error(keyed_home: Path, anchor: str) -> None:
    path = keyed_home / "audit.head"
    data = json.loads(path.read_text())
    if anchor == '{"x": 1}':  # the right shape around the wrong types
        anchor = json.dumps({database: {"seq": "many", "hash": 7} for database in data})
    path.write_text(anchor)
    message = _one_error(_cli("audit", "verify"))
    assert str(path) in message and "audit head anchor" in message


def test_a_closed_pipe_ends_a_verb_quietly(keyed_home: Path) -> None:
    reader = subprocess.Popen([sys.executable, "-m", "app.cli", "audit", "log"], cwd=REPO, env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.close()  # like `| head -0`: nobody reads what it prints
    stderr = reader.stderr.read().decode()
    reader.wait(timeout=60)
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr
    assert _events(keyed_home) == 1


def test_a_signed_checkpoint_catches_a_truncation_the_workspace_alone_cannot(wb: Workbench, tmp_path: Path) -> None:
    """Delete the newest events and lower audit.head to match: `audit verify` alone cannot tell,
    the checkpoint kept outside the workspace can."""
    for slug in ("churn", "fraud", "credit"):
        projects.create_project(wb, slug, problem_type="binary_classification")
    home = wb.workspace.home
    wb.close()
    checkpoint = tmp_path / "checkpoint.json"
    done = _cli("audit", "anchor", "--out", str(checkpoint))
    assert done.returncode == 0 and "keep it outside the workspace" in done.stdout, done.stderr
    statement = json.loads(checkpoint.read_text())["statement"]
    assert statement["seq"] == 4 and statement["kind"] == "checkpoint"
    assert _one_error(_cli("audit", "anchor", "--out", str(checkpoint))).endswith("a checkpoint is never overwritten)")
    done = _cli("audit", "verify", "--checkpoint", str(checkpoint))
    assert done.returncode == 0 and "nothing behind it was truncated or rolled back" in done.stdout
    assert "signed by ana.engineer (admin)" in done.stdout

    con = raw_registry(home)  # the attacker's truncation, anchor lowered to match
    con.execute("delete from audit_event where seq >= 3")
    con.execute("delete from project where slug != 'churn'")  # and the rows those events bound: a rollback
    head = con.execute("select seq, hash from audit_event order by seq desc limit 1").fetchone()
    con.commit()
    con.close()
    anchor = json.loads((home / "audit.head").read_text())
    (home / "audit.head").write_text(json.dumps({db: {"seq": head[0], "hash": head[1]} for db in anchor}))
    assert _cli("audit", "verify").returncode == 0  # what the design cannot catch alone
    done = _cli("audit", "verify", "--checkpoint", str(checkpoint))
    assert done.returncode == 1 and "FAILED  the chain no longer holds that head" in done.stderr

    forged = json.loads(checkpoint.read_text())
    forged["statement"]["seq"] = 2
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    done = _cli("audit", "verify", "--checkpoint", str(tmp_path / "forged.json"))
    assert done.returncode == 1 and "its signature does not verify" in done.stderr
