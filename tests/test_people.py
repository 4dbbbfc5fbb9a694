"""People and their keys: who may register whom, what a signature proves, and what an edit of a
signed record does to the four-eyes check. Real keys, real SQLite files, a real CLI process."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from app.errors import WorkbenchError
from app.services import audit_trail, people, promotion, registry
from app.services.demo import SLUG
from app.services.workbench import Workbench
from app.signing import new_signing_key, parse_public_key, short_fingerprint, verify_statement, write_private_key
from storage.models import Approval
from storage.workspace import Workspace
from tests.conftest import ME, raw_registry, register_person

REPO = Path(__file__).resolve().parents[1]


def test_the_first_key_is_the_admin_and_init_never_replaces_a_key(mlwb_home: Path) -> None:
    wb = Workbench.open(Workspace(mlwb_home))
    assert wb.signing_key() is None and people.identity(wb).person is None
    setup = people.init_me(wb, name="first.person")
    assert setup.created and setup.registered_now and setup.person.role == "admin"
    assert stat.S_IMODE(os.stat(mlwb_home / "signing.key").st_mode) == 0o600
    again = people.init_me(wb)
    assert not again.created and again.key.fingerprint == setup.key.fingerprint and not again.registered_now
    with pytest.raises(WorkbenchError, match="already registered as 'first.person'"):
        people.init_me(wb, name="someone.else")
    (event,) = audit_trail.recent_events(wb)
    assert event.action == "person.added" and event.actor == "first.person"
    assert wb.actor == "first.person"
    wb.close()


def test_only_an_admin_adds_people_and_one_key_is_one_person(wb: Workbench, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    val = register_person(wb, "val.reviewer", key_dir=tmp_path)
    with pytest.raises(WorkbenchError, match="already registered to 'val.reviewer'"):
        people.add_person(wb, "val.alias", val.public_line, "approver")
    with pytest.raises(WorkbenchError, match="'val.reviewer' is already registered with another key"):
        people.add_person(wb, "val.reviewer", new_signing_key().public_line, "validator")
    with pytest.raises(WorkbenchError, match="role must be one of"):
        people.add_person(wb, "x", new_signing_key().public_line, "boss")
    with pytest.raises(WorkbenchError, match="not an Ed25519 public key"):
        people.add_person(wb, "x", "ed25519:nothex", "validator")
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(tmp_path / "val.reviewer.key"))
    assert people.identity(wb).person.name == "val.reviewer"
    with pytest.raises(WorkbenchError, match="only an admin can add people; val.reviewer is registered as validator"):
        people.add_person(wb, "mallory", new_signing_key().public_line, "admin")
    assert [p.name for p in people.list_people(wb)] == [ME, "val.reviewer"]


def test_a_public_key_reads_from_the_printed_line_bare_hex_or_pem() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = new_signing_key()
    pem = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert parse_public_key(key.public_line) == parse_public_key(key.public_hex) == key.public_hex
    assert len(parse_public_key(pem)) == 64


STATEMENT = {"kind": "approval", "project": "p", "version": 1, "model_sha256": "0" * 64, "evidence_digest": "1" * 64,
             "evidence_seq": 9, "decision": "approved", "comment": "ok", "signed_at": "2026-12-03T12:00:00+00:00"}


def test_a_signature_verifies_only_for_its_statement_and_its_key() -> None:
    key, other = new_signing_key(), new_signing_key()
    with pytest.raises(ValueError, match="a statement needs model_sha256"):
        key.sign({k: v for k, v in STATEMENT.items() if k != "model_sha256"})
    signed = key.sign(STATEMENT)
    assert verify_statement(key.public_hex, signed.text, signed.signature)
    assert not verify_statement(key.public_hex, signed.text.replace('"ok"', '"OK"'), signed.signature)
    assert not verify_statement(other.public_hex, signed.text, signed.signature)
    forged = other.sign(STATEMENT)
    # a statement that names key A but is signed by key B verifies with neither
    assert not verify_statement(key.public_hex, forged.text.replace(other.fingerprint, key.fingerprint),
                                forged.signature)


def _edit(wb: Workbench, sql: str, *params: object) -> None:
    wb.db.engine.dispose()
    con = raw_registry(wb.workspace.database_path)
    con.execute(sql, params)
    con.commit()
    con.close()


def _approval_check(wb: Workbench, version: int) -> promotion.CheckResult:
    return next(c for c in promotion.promotion_gate(wb, SLUG, version).checks if c.id == "independent_approval")


def test_an_edited_signed_approval_no_longer_counts(demo_wb: Workbench) -> None:
    val = register_person(demo_wb, "val.reviewer")
    registry.record_approval(demo_wb, SLUG, 2, comment="numbers checked", signer=val)
    assert _approval_check(demo_wb, 2).passed
    with demo_wb.read() as session:
        row_id = session.scalars(select(Approval.id).order_by(Approval.id.desc())).first()
    _edit(demo_wb, "update approval set comment = ? where id = ?", "numbers checked, all fine", row_id)
    check = _approval_check(demo_wb, 2)
    assert not check.passed and "signed statement differs from the record in comment" in check.detail
    # pointing the record at another registered key breaks the signature, too
    other = register_person(demo_wb, "other.validator")
    _edit(demo_wb, "update approval set comment = ?, signer_fingerprint = ? where id = ?", "numbers checked",
          other.fingerprint, row_id)
    check = _approval_check(demo_wb, 2)
    assert not check.passed and "other.validator's signature does not verify" in check.detail


def test_a_key_registered_as_author_cannot_approve(demo_wb: Workbench) -> None:
    author = register_person(demo_wb, "bob.author", "author")
    with pytest.raises(WorkbenchError, match="bob.author is registered as author"):
        registry.record_approval(demo_wb, SLUG, 2, signer=author)
    assert short_fingerprint(author.fingerprint).count(":") == 3


def _cli(home: Path, *args: str, key: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"MLWB_HOME": str(home)}
    env.pop("MLWB_SIGNING_KEY", None)
    if key is not None:
        env["MLWB_SIGNING_KEY"] = str(key)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_people_on_the_command_line(mlwb_home: Path, tmp_path: Path) -> None:
    done = _cli(mlwb_home, "people", "init", "--name", "ana")
    assert done.returncode == 0, done.stderr
    assert "registered as ana (admin) — the first person, so the admin" in done.stdout
    val = new_signing_key()
    write_private_key(tmp_path / "val.key", val)
    (tmp_path / "val.pub").write_text(val.public_line + "\n")
    done = _cli(mlwb_home, "people", "add", "val", "--public-key", str(tmp_path / "val.pub"), "--role", "validator")
    assert done.returncode == 0 and val.fingerprint in done.stdout, done.stderr
    whoami = _cli(mlwb_home, "people", "whoami", key=tmp_path / "val.key")
    assert whoami.stdout.startswith(f"val (validator), key {val.fingerprint}")
    refused = _cli(mlwb_home, "people", "add", "eve", "--public-key", str(tmp_path / "val.pub"), "--role", "admin",
                   key=tmp_path / "val.key")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1] == "error: only an admin can add people; val is registered as validator"
    listing = _cli(mlwb_home, "people", "list")
    assert [line.split("\t")[:2] for line in listing.stdout.splitlines()] == [["ana", "admin"], ["val", "validator"]]
