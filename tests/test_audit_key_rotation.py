"""`mlwb audit rotate-key`: the audit key is replaced on purpose, recorded in the chain, and every
event still verifies with the key that was current at its seq. Driven through the real CLI on
real files; crashes are real process exits (``os._exit``) at the step under test."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.audit import KEYRING_SERVICE, ROTATION_ACTION, event_hash, key_id
from app.services import audit_key, audit_trail, deliverables, projects
from app.services.workbench import Workbench
from storage.workspace import Workspace
from tests.conftest import ON_POSTGRESQL, raw_registry, register_person

REPO = Path(__file__).resolve().parents[1]
ROTATED_RE = re.compile(r"^audit key rotated at event (\d+) by (\S+)$", re.M)
NEW_RE = re.compile(r"^new key   id ([0-9a-f]{64}), kept in (.+); it MACs every event after (\d+)$", re.M)
OK_RE = re.compile(r"^audit chain OK: (\d+) events, head (\d+) ", re.M)


def _cli(*args: str, env: dict[str, str] | None = None, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """``mlwb ARGS``; with ``code``, that Python runs first in the same process (a crash point)."""
    command = [sys.executable, "-m", "app.cli", *args] if code is None else [
        sys.executable, "-c", f"{code}\nimport sys\nfrom app.cli import main\nsys.exit(main({list(args)!r}))"]
    return subprocess.run(command, cwd=REPO, env=env or os.environ.copy(), capture_output=True, text=True,
                          timeout=120)


def _rotate(env: dict[str, str] | None = None) -> tuple[int, str]:
    done = _cli("audit", "rotate-key", env=env)
    assert done.returncode == 0, done.stderr
    assert "Back up the new key" in done.stdout and "Traceback" not in done.stderr
    seq, new = ROTATED_RE.search(done.stdout), NEW_RE.search(done.stdout)
    assert seq and new and new.group(3) == seq.group(1), done.stdout
    return int(seq.group(1)), new.group(1)


def _verified(env: dict[str, str] | None = None) -> int:
    done = _cli("audit", "verify", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    match = OK_RE.search(done.stdout)
    assert match, done.stdout
    return int(match.group(1))


def _error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def _rows(home: Path) -> list[tuple]:
    con = raw_registry(home)
    try:
        return con.execute("select seq, ts, actor, action, entity_type, entity_id, project_slug, payload, prev_hash, "
                           "hash from audit_event order by seq").fetchall()
    finally:
        con.close()


def _as_event(row: tuple) -> dict:
    return dict(zip(("seq", "ts", "actor", "action", "entity_type", "entity_id", "project", "payload", "prev_hash",
                     "hash"), row, strict=True))


def _key(home: Path) -> bytes:
    return bytes.fromhex((home / "audit.key").read_text().strip())


def _state(home: Path) -> tuple[bytes, bool, int]:
    """What a refused or crashed rotation must leave alone: the key, no retired keys, the events."""
    return (home / "audit.key").read_bytes(), (home / "audit.key.retired").exists(), len(_rows(home))


@pytest.fixture
def home(wb: Workbench) -> Path:
    """A workspace with me registered (so its admin) and two events, closed."""
    projects.create_project(wb, "churn", problem_type="binary_classification")
    home = wb.workspace.home
    wb.close()
    return home


def test_rotation_is_an_event_of_the_old_key_and_later_events_use_the_new_one(home: Path) -> None:
    old = _key(home)
    seq, new_id = _rotate()
    assert seq == 3 and new_id == key_id(_key(home)) != key_id(old)
    for name in ("audit.key", "audit.key.retired"):
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600
    assert not (home / "audit.key.next").exists()
    retired = json.loads((home / "audit.key.retired").read_text())["keys"]
    assert [(k["key_id"], k["through_seq"], k["successor_id"]) for k in retired] == [(key_id(old), 3, new_id)]

    assert _cli("projects", "new", "fraud", "--problem-type", "binary_classification").returncode == 0
    assert _verified() == 4
    events = [_as_event(row) for row in _rows(home)]
    rotation = events[2]
    assert rotation["action"] == ROTATION_ACTION and rotation["actor"] == "ana.engineer"
    payload = json.loads(rotation["payload"])
    assert payload["old_key_id"] == key_id(old) and payload["new_key_id"] == new_id
    assert payload["rotated_by"] == "ana.engineer" and payload["signer"]
    assert old.hex() not in rotation["payload"] and _key(home).hex() not in rotation["payload"]
    assert rotation["hash"] == event_hash(old, rotation)  # the old key vouches for the switch
    assert events[3]["hash"] == event_hash(_key(home), events[3]) != event_hash(old, events[3])
    log = _cli("audit", "log").stdout
    assert f"{ROTATION_ACTION}\t-\t" in log


def test_rotating_twice_keeps_both_retired_keys_and_everything_verifies(home: Path) -> None:
    first, _ = _rotate()
    assert _cli("projects", "new", "fraud", "--problem-type", "binary_classification").returncode == 0
    second, current = _rotate()
    assert (first, second) == (3, 5)
    assert _cli("projects", "new", "credit", "--problem-type", "binary_classification").returncode == 0
    assert _verified() == 6
    retired = json.loads((home / "audit.key.retired").read_text())["keys"]
    assert [k["through_seq"] for k in retired] == [3, 5] and retired[1]["successor_id"] == current
    assert retired[0]["successor_id"] == retired[1]["key_id"]


def test_a_deleted_retired_key_file_is_named_with_what_to_do(home: Path, tmp_path: Path) -> None:
    _rotate()
    assert _cli("projects", "new", "fraud", "--problem-type", "binary_classification").returncode == 0
    retired = home / "audit.key.retired"
    saved = tmp_path / "retired-backup"
    retired.rename(saved)
    done = _cli("audit", "verify")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "BROKEN at event 1: it was written with a retired audit key" in done.stderr
    assert str(retired) in done.stderr and "restore it from your backup" in done.stderr
    assert "edited" not in done.stderr
    saved.rename(retired)
    assert _verified() == 4


def test_a_replaced_current_key_is_refused_after_a_rotation(home: Path) -> None:
    _rotate()
    (home / "audit.key").write_text(os.urandom(32).hex() + "\n")
    message = _error(_cli("projects", "new", "fraud", "--problem-type", "binary_classification"))
    assert "is not the key this workspace rotated to at event 3" in message and str(home / "audit.key") in message


def test_only_an_admin_rotates_once_people_are_registered(wb: Workbench, tmp_path: Path) -> None:
    register_person(wb, "val", "validator", key_dir=tmp_path)
    home = wb.workspace.home
    wb.close()
    before = _state(home)
    env = {**os.environ, "MLWB_SIGNING_KEY": str(tmp_path / "val.key")}
    assert "only an admin can rotate the audit key; val is registered as validator" in _error(
        _cli("audit", "rotate-key", env=env))
    env["MLWB_SIGNING_KEY"] = str(tmp_path / "nobody.key")
    assert "only an admin can rotate" in _error(_cli("audit", "rotate-key", env=env))
    assert _state(home) == before and not (home / "audit.key.next").exists()
    _rotate()  # me, the admin


def test_a_chain_that_does_not_verify_is_not_rotated(home: Path) -> None:
    con = raw_registry(home)
    con.execute("update audit_event set actor = 'mallory' where seq = 1")
    con.commit()
    con.close()
    before = _state(home)
    message = _error(_cli("audit", "rotate-key"))
    assert "not rotated while the chain does not verify: audit chain BROKEN at event 1" in message
    assert _state(home) == before and not (home / "audit.key.next").exists()


def test_a_crash_before_the_rotation_commits_leaves_the_old_key_current(home: Path) -> None:
    before = _state(home)
    crash = ("import os, app.audit as a\nstore = a.store_pending_key\n"
             "def crash(*args, **kw):\n    store(*args, **kw)\n    os._exit(9)\na.store_pending_key = crash")
    done = _cli("audit", "rotate-key", code=crash)
    assert done.returncode == 9 and (home / "audit.key.next").exists()
    assert _verified() == 2  # opening discarded the pending key: its rotation never committed
    assert _state(home) == before and not (home / "audit.key.next").exists()
    assert _cli("projects", "new", "fraud", "--problem-type", "binary_classification").returncode == 0
    assert _rotate()[0] == 4 and _verified() == 4


def test_a_crash_after_the_rotation_commits_is_finished_by_the_next_open(home: Path) -> None:
    old = _key(home)
    opened = Workbench.open(Workspace(home))  # a workbench that was open all along (the TUI, say)
    try:
        crash = "import os, app.audit as a\ndef crash(*args, **kw):\n    os._exit(9)\na.settle_rotation = crash"
        done = _cli("audit", "rotate-key", code=crash)
        assert done.returncode == 9
        assert _key(home) == old and (home / "audit.key.next").exists()  # committed, not yet settled
        # the open workbench sees the rotation event at the head and writes with the new key
        deliverables.save_problem_statement(opened, "churn", {"objective": "Keep customers"})
        assert opened.key.key_id != key_id(old) and audit_trail.verify(opened).ok
    finally:
        opened.close()
    assert _verified() == 4
    assert key_id(_key(home)) == json.loads(_as_event(_rows(home)[2])["payload"])["new_key_id"]
    assert not (home / "audit.key.next").exists()
    assert json.loads((home / "audit.key.retired").read_text())["keys"][0]["key_id"] == key_id(old)


def test_a_failed_commit_discards_the_new_key(home: Path) -> None:
    before = _state(home)
    con = raw_registry(home)
    if ON_POSTGRESQL:
        con.execute("create function no_rotation() returns trigger language plpgsql as $$ begin "
                    f"if new.action = '{ROTATION_ACTION}' then raise exception 'disk full'; end if; "
                    "return new; end $$")
        con.execute("create trigger no_rotation before insert on audit_event for each row "
                    "execute function no_rotation()")
    else:
        con.execute(f"create trigger no_rotation before insert on audit_event when new.action = '{ROTATION_ACTION}' "
                    "begin select raise(abort, 'disk full'); end")
    con.commit()
    con.close()
    wb = Workbench.open(Workspace(home))
    try:
        with pytest.raises(Exception, match="disk full"):
            audit_key.rotate_key(wb)
        assert _state(home) == before and not (home / "audit.key.next").exists()
        assert audit_trail.verify(wb).ok and wb.key.key_id == key_id(_key(home))
    finally:
        wb.close()


def test_report_and_evidence_bundle_verify_after_a_rotation(home: Path, tmp_path: Path) -> None:
    _rotate()
    deliverable = Workbench.open(Workspace(home))
    try:
        deliverables.save_problem_statement(deliverable, "churn", {"objective": "Keep customers"})
    finally:
        deliverable.close()
    report = _cli("report", "churn")
    assert report.returncode == 0, report.stderr
    bundle = tmp_path / "churn.zip"
    exported = _cli("export", "churn", "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr
    with zipfile.ZipFile(bundle) as archive:
        assert not any(_key(home).hex() in archive.read(name).decode("utf-8", "replace")
                       for name in archive.namelist() if not name.endswith(".pdf"))
    offline = {k: v for k, v in os.environ.items() if not k.startswith("MLWB_")}
    offline["HOME"] = str(tmp_path / "reviewer")
    verified = _cli("verify-bundle", str(bundle), env=offline)
    assert verified.returncode == 0 and "bundle verified: all 7 checks passed" in verified.stdout, verified.stdout


KEYRING_MODULE = '''
import json, os
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class JsonFileKeyring(KeyringBackend):
    """A stand-in OS keyring for the test: entries in one JSON file."""
    priority = 1

    def _load(self):
        try:
            with open(os.environ["TEST_KEYRING_FILE"]) as fh:
                return json.load(fh)
        except FileNotFoundError:
            return {}

    def _save(self, data):
        with open(os.environ["TEST_KEYRING_FILE"], "w") as fh:
            json.dump(data, fh)

    def get_password(self, service, username):
        return self._load().get(f"{service}|{username}")

    def set_password(self, service, username, password):
        data = self._load()
        data[f"{service}|{username}"] = password
        self._save(data)

    def delete_password(self, service, username):
        data = self._load()
        if data.pop(f"{service}|{username}", None) is None:
            raise PasswordDeleteError(username)
        self._save(data)
'''


def test_rotation_with_the_key_in_an_os_keyring(mlwb_home: Path, tmp_path: Path) -> None:
    """Nobody registered (so anyone may rotate); the keys live in the keyring, none in files."""
    (tmp_path / "fake_keyring.py").write_text(KEYRING_MODULE)
    store = tmp_path / "keyring.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]),
           "PYTHON_KEYRING_BACKEND": "fake_keyring.JsonFileKeyring", "TEST_KEYRING_FILE": str(store)}
    assert _cli("projects", "new", "churn", "--problem-type", "binary_classification", env=env).returncode == 0
    account = Workspace(mlwb_home).identity  # the workspace id (and on PostgreSQL the URL's hash)
    old = json.loads(store.read_text())[f"{KEYRING_SERVICE}|{account}"]
    seq, new_id = _rotate(env)
    done = _cli("audit", "rotate-key", env=env)  # and a second time
    assert f"kept in the keyring entry {KEYRING_SERVICE}/{account};" in done.stdout
    assert _cli("projects", "new", "fraud", "--problem-type", "binary_classification", env=env).returncode == 0
    assert _verified(env) == 4
    entries = json.loads(store.read_text())
    retired = json.loads(entries[f"{KEYRING_SERVICE}|{account}/retired"])["keys"]
    assert retired[0]["key"] == old.strip() and retired[0]["successor_id"] == new_id
    assert f"{KEYRING_SERVICE}|{account}/next" not in entries
    assert not list(mlwb_home.glob("audit.key*"))
    del entries[f"{KEYRING_SERVICE}|{account}/retired"]
    store.write_text(json.dumps(entries))
    done = _cli("audit", "verify", env=env)
    assert done.returncode == 1 and f"the keyring entry {KEYRING_SERVICE}/{account}/retired" in done.stderr


def test_the_key_of_one_event_is_found_without_walking_the_chain(home: Path) -> None:
    """``AuditKey.secret_at``: what a check of one event (a state row's newest event) uses."""
    _rotate()
    assert _cli("projects", "new", "fraud", "--problem-type", "binary_classification").returncode == 0
    _rotate()
    wb = Workbench.open(Workspace(home))
    try:
        for row in _rows(home):
            event = _as_event(row)
            assert event_hash(wb.key.secret_at(event["seq"]), event) == event["hash"], event["seq"]
    finally:
        wb.close()
