"""Evidence bundles: `mlwb export` writes one, `mlwb verify-bundle` checks it with no workspace.

Bundles are real folders and zips of the demo project; tampering is done to the files the
way someone holding the bundle could (editing bytes, fixing up the manifest, rewriting the
chain consistently). The verifier runs as a real `python -m app.cli` process with no
``MLWB_HOME`` and an empty home folder, which must stay empty: it needs no workspace.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pypdf
import pytest

from app.bundle_verify import (
    CHECKPOINT, EVENTS, EVIDENCE_JSON, MANIFEST, MANIFEST_SIGNATURE, PUBLIC_KEYS, REPORT_PDF, SIGNED_RECORDS,
    BundleCheck, BundleUnusable, BundleVerdict, verify_bundle,
)
from app.canonical import GENESIS, next_digest
from app.errors import WorkbenchError
from app.services import audit_trail, deliverables, evidence_bundle, findings, projects, promotion, reporting
from app.services.evidence_bundle import export_bundle
from app.services.workbench import Workbench
from app.signing import fingerprint, new_signing_key, short_fingerprint, write_private_key
from storage.workspace import Workspace
from tests.conftest import copy_workspace, raw_registry, register_person
from tests.registries import restore_registry, snapshot_registry

REPO = Path(__file__).resolve().parents[1]
SLUG = "ctr-demo"
CHECKS = ("manifest signature", "files", "audit chain", "evidence digest", "report head", "signatures", "checkpoint")
EVENT_KEYS = {"seq", "ts", "actor", "action", "entity_type", "entity_id", "project", "payload", "prev_hash", "hash"}
PLACEHOLDER_KEYS = {"seq", "prev_hash", "hash", "content"}


# --- helpers -------------------------------------------------------------------------------


def mlwb(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def offline_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A reviewer's machine: no MLWB_HOME and an empty home (and XDG folders) to watch."""
    home = tmp_path / "reviewer-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLWB_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
               XDG_CACHE_HOME=str(home / "cache"), XDG_STATE_HOME=str(home / "state"))
    return env, home


def verify_offline(bundle: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env, home = offline_env(tmp_path)
    result = mlwb("verify-bundle", str(bundle), env=env)
    assert "Traceback" not in result.stderr, result.stderr
    assert list(home.rglob("*")) == [], "verify-bundle created files: it must not need a workspace"
    return result


def check(verdict: BundleVerdict, name: str) -> BundleCheck:
    (found,) = [c for c in verdict.checks if c.name == name]
    return found


def failed(verdict: BundleVerdict) -> set[str]:
    return {c.name for c in verdict.checks if not c.ok}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / MANIFEST).read_text(encoding="utf-8"))


def write_manifest(bundle: Path, manifest: dict[str, Any]) -> None:
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")


def fix_manifest(bundle: Path, *names: str) -> None:
    """What a careful forger does after changing files: record their new hashes and sizes."""
    manifest = read_manifest(bundle)
    for name in names:
        data = (bundle / name).read_bytes()
        manifest["files"][name] = {"sha256": sha256(data), "size": len(data)}
    write_manifest(bundle, manifest)


def read_events(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / EVENTS).read_text(encoding="utf-8").splitlines()]


def write_events(bundle: Path, events: list[dict[str, Any]]) -> None:
    (bundle / EVENTS).write_text("".join(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                                         + "\n" for e in events), encoding="utf-8")


def rewrite_events(bundle: Path, events: list[dict[str, Any]]) -> str:
    """What a forger without the key can still do after editing events: recompute every digest,
    write them, and record the new head, digest and file hash in the manifest; returns the digest."""
    digest = GENESIS
    for event in events:
        event.pop("digest")
        digest = next_digest(digest, event)
        event["digest"] = digest
    write_events(bundle, events)
    manifest = read_manifest(bundle)
    manifest["audit_head"] = {"seq": events[-1]["seq"], "hash": events[-1]["hash"]}
    manifest["evidence_digest"]["value"] = digest
    write_manifest(bundle, manifest)
    fix_manifest(bundle, EVENTS)
    return digest


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def independent_digest(events: list[dict[str, Any]]) -> str:
    """The evidence digest as ``app.canonical.DIGEST_ALGORITHM`` words it, written out here
    again, checking each line's stored digest on the way."""
    digest = GENESIS
    body_keys = EVENT_KEYS - {"prev_hash", "hash"}
    for event in events:
        fields = set(event) - {"digest"}
        assert fields in (EVENT_KEYS, PLACEHOLDER_KEYS), fields
        content = event.get("content") or sha256(canonical({k: event[k] for k in body_keys}).encode("utf-8"))
        link = {"seq": event["seq"], "prev_hash": event["prev_hash"], "hash": event["hash"], "content": content}
        digest = sha256((digest + canonical(link)).encode("utf-8"))
        assert event["digest"] == digest
    return digest


def tables_in(value: Any) -> list[dict[str, Any]]:
    """The tables (dicts shaped like ``TableData``) anywhere in the exported report data."""
    if isinstance(value, dict):
        if {"title", "columns", "rows", "highlight", "note"} <= set(value):
            return [value]
        return [t for v in value.values() for t in tables_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in tables_in(v)]
    return []


def pdf_text(path: Path) -> str:
    return pdf_text_of(path.read_bytes())


def pdf_text_of(data: bytes) -> str:
    return " ".join(" ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages).split())


# --- one pristine bundle for the tampering tests -------------------------------------------


@pytest.fixture(scope="module")
def pristine(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder bundle of a private copy of the demo, exported once for this module (the PDF
    takes a second or two to lay out); each tampering test works on its own copy."""
    home = tmp_path_factory.mktemp("bundle-workspace") / "mlwb-home"
    with pytest.MonkeyPatch.context() as mp:
        copy_workspace(demo_template, home, mp, keep=True)
        bench = Workbench.open(Workspace(home))
        try:
            out = tmp_path_factory.mktemp("pristine") / "bundle"
            export_bundle(bench, SLUG, out)
        finally:
            bench.close()
    return out


@pytest.fixture
def bundle(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(pristine, copy)
    return copy


# --- exporting -----------------------------------------------------------------------------


def test_export_to_a_folder_verifies_offline_and_is_recorded_after_its_head(demo_wb: Workbench,
                                                                            tmp_path: Path) -> None:
    before = audit_trail.head(demo_wb)
    exported = export_bundle(demo_wb, SLUG, tmp_path / "bundle")
    root = exported.path
    # The bundle describes the head it was built at; the export is the one event after it.
    head, count = before
    assert head is not None and (exported.head_seq, exported.head_hash) == (head.seq, head.hash)
    after, _ = audit_trail.head(demo_wb)
    assert after is not None and after.seq == head.seq + 1 == exported.event_seq

    manifest = read_manifest(root)
    assert manifest["format"] == "mlwb-evidence-bundle/3" and manifest["project"] == SLUG
    assert manifest["audit_head"]["seq"] == head.seq and manifest["audit_head"]["hash"] == head.hash
    assert manifest["tool"]["version"] and manifest["created_at"] and manifest["exporting_is_audited"] is True
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert on_disk == set(manifest["files"]) | {MANIFEST, MANIFEST_SIGNATURE}
    assert CHECKPOINT in manifest["files"]
    assert sha256((root / MANIFEST).read_bytes()) == exported.manifest_sha256
    for name, entry in manifest["files"].items():
        data = (root / name).read_bytes()
        assert entry == {"sha256": sha256(data), "size": len(data)}, name

    # The whole chain up to the printed head (all the demo's own), and the digest computed
    # independently of the code: a SHA-256 chain over each event's links and body hash.
    events = read_events(root)
    assert [e["seq"] for e in events] == list(range(1, head.seq + 1)) and len(events) == count
    assert events[-1]["hash"] == head.hash and events[0]["prev_hash"] == GENESIS
    assert manifest["audit_events"]["placeholders"] == exported.placeholders == 0
    assert independent_digest(events) == manifest["evidence_digest"]["value"] == exported.evidence_digest
    verdict, _ = audit_trail.verify_with_digest(demo_wb)  # the workspace's chain, the export event included
    assert verdict.ok and verdict.head is not None and verdict.head.seq == exported.event_seq

    # The evidence: the collected data as JSON, and one CSV per table with the same cells.
    data = json.loads((root / EVIDENCE_JSON).read_text(encoding="utf-8"))
    assert (data["project_slug"], data["audit_head_seq"], data["audit_head_hash"]) == (SLUG, head.seq, head.hash)
    tables = tables_in(data)
    assert len(tables) == len(manifest["tables"]) >= 10
    for (name, meta), table in zip(manifest["tables"].items(), tables, strict=True):
        assert meta["title"] == table["title"]
        with (root / name).open(encoding="utf-8-sig", newline="") as fh:
            assert list(csv.reader(fh)) == [table["columns"], *table["rows"]], name

    text = pdf_text(root / REPORT_PDF)
    assert f"Audit chain head: {head.seq} {head.hash}" in text
    assert text.count(f"Evidence digest: {exported.evidence_digest}") == 2  # on the cover and in the audit appendix

    # The signed decisions: the validator's approval, the promotion, the validator's acceptance of
    # each fairness finding and the author's confirmation of the card's drafted sections, with both
    # keys in full.
    keys = {k["name"]: k for k in json.loads((root / PUBLIC_KEYS).read_text(encoding="utf-8"))["keys"]}
    assert set(keys) == {"demo-validator", "ana.engineer"} and keys["demo-validator"]["role"] == "validator"
    records = json.loads((root / SIGNED_RECORDS).read_text(encoding="utf-8"))["records"]
    signed = [(r["record"], r["by"]) for r in records]
    settled = [f for f in findings.list_findings(demo_wb, SLUG) if f.source == "fairness"]
    assert settled and signed == [("approval", "demo-validator"), ("transition", "ana.engineer")] + [
        ("finding_event", "demo-validator")] * len(settled) + [("card_confirmation", "ana.engineer")]
    assert exported.signed == len(signed) and exported.signers == 2

    result = verify_offline(root, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    n = len(CHECKS)
    assert [line.split(":")[0].split(maxsplit=1)[1] for line in lines[:n]] == list(CHECKS)
    assert all(line.startswith("ok ") for line in lines[:n]) and lines[-1].startswith(f"bundle verified: all {n}")
    assert lines[0].startswith("ok      manifest signature: manifest.json (SHA-256 ") and (
        " is as ana.engineer (admin) signed it at ") in lines[0]
    assert "and the evidence digest" in lines[4]
    assert lines[5].startswith(f"ok      signatures: {len(signed)} signed records verify with the bundle's 2 public keys")
    assert lines[6].startswith(f"ok      checkpoint: {CHECKPOINT} signs event {head.seq}, its hash and the evidence "
                               "digest, by ana.engineer (admin) at ") and "prints the same signature" in lines[6]
    validator = keys["demo-validator"]["fingerprint"]
    assert any(line.startswith(f"signer  demo-validator (validator) key {validator}: approval 1 (v1 approved), ")
               and line.count("finding_event") == len(settled) for line in lines), lines
    assert any(line.startswith("signer  ana.engineer (admin) key ") and ": transition 2 (v1 none → production), "
               "card_confirmation 1 (v1 card sections confirmed: evaluation_data, metrics, model_details, "
               f"quantitative_analyses, training_data), {MANIFEST} (the exporter), {CHECKPOINT} (event {head.seq})"
               in line for line in lines), lines


def test_cli_export_to_a_zip_verifies_offline(demo_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "evidence.zip"
    env = dict(os.environ)  # demo_home points MLWB_HOME at a private copy of the demo
    result = mlwb("export", SLUG, "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {out}: ") and "audit chain head " in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence.zip", "mlwb-home"]  # no partial left
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert names[0] == MANIFEST and {REPORT_PDF, EVENTS, EVIDENCE_JSON} <= set(names)

    verified = verify_offline(out, tmp_path)
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.splitlines()[-1].startswith("bundle verified")

    again = mlwb("export", SLUG, "--out", str(out), env=env)
    assert again.returncode == 2 and again.stderr.startswith("error: ") and "not empty" in again.stderr


def test_export_redoes_the_collection_when_the_head_moves(demo_wb: Workbench, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer changes the registry while the report's records are collected: the
    collection starts again, so the data, the PDF and the events all describe one head."""
    real = reporting._gather
    calls: list[str] = []

    def with_a_concurrent_change(wb: Workbench, slug: str, kind: str, **options: Any) -> Any:
        if not calls:
            projects.set_maturity(wb, slug, "enterprise", reason="audit asked for four-eyes approvals")
        calls.append(kind)
        return real(wb, slug, kind, **options)

    monkeypatch.setattr(reporting, "_gather", with_a_concurrent_change)
    exported = export_bundle(demo_wb, SLUG, tmp_path / "bundle")
    assert len(calls) == 2
    head, _ = audit_trail.head(demo_wb)  # the export event, right after the head the bundle describes
    assert head is not None and exported.event_seq == head.seq and exported.head_seq == head.seq - 1
    data = json.loads((exported.path / EVIDENCE_JSON).read_text(encoding="utf-8"))
    assert data["maturity"] == "enterprise" and data["audit_head_seq"] == exported.head_seq
    assert read_events(exported.path)[-1]["action"] == "project.maturity_changed"
    assert verify_bundle(exported.path).ok


SECRET = "Zanzibar-7 fraud ring: flag wire transfers from shell companies"


def test_an_export_holds_this_project_and_nothing_else(demo_wb: Workbench, tmp_path: Path) -> None:
    """Another project's events (and a person who signed nothing here) are in the chain between
    the demo's events; the bundle carries them as hash-only placeholders, no text of theirs is
    anywhere in it (PDF text included), and it still verifies link by link."""
    projects.create_project(demo_wb, "zanzibar-fraud", problem_type="binary_classification",
                            name="Zanzibar wire fraud")
    deliverables.save_problem_statement(demo_wb, "zanzibar-fraud", {
        "objective": SECRET, "stakeholders_gain": "Zanzibar compliance desk", "ml_metric": "recall"})
    register_person(demo_wb, "zed.investigator", "validator")
    # The demo's own signed decisions of every kind, after the other project's events.
    promotion.waive(demo_wb, SLUG, 1, "shadow_passed", reason="shadow traffic is not routed in this region yet")
    finding = findings.record_finding(demo_wb, SLUG, title="Calibration drifts on mobile", severity="low", version=1)
    findings.set_status(demo_wb, SLUG, finding.id, "remediated", "recalibrated on the March batch")
    projects.set_maturity(demo_wb, SLUG, "enterprise", reason="audit asked for four-eyes approvals")
    verdict, workspace_digest = audit_trail.verify_with_digest(demo_wb)
    assert verdict.ok

    exported = export_bundle(demo_wb, SLUG, tmp_path / "evidence.zip")
    others = [e for e in audit_trail.recent_events(demo_wb, limit=10_000) if e.project != SLUG]
    assert exported.placeholders == len(others) - 2  # the two signers' person events are in full
    texts: dict[str, str] = {}
    with zipfile.ZipFile(exported.path) as zf:
        for name in zf.namelist():
            data = zf.read(name)
            texts[name] = pdf_text_of(data) if name == REPORT_PDF else data.decode("utf-8-sig")
    for name, text in texts.items():
        for needle in ("zanzibar", "Zanzibar-7", "shell compan", "zed.investigator"):
            assert needle.lower() not in text.lower(), f"{needle!r} leaked into {name}"
    assert "ctr-demo" in texts[REPORT_PDF] and "Click-through" in texts[REPORT_PDF]  # its own text is there

    events = [json.loads(line) for line in texts[EVENTS].splitlines()]
    hidden = [e for e in events if "content" in e]
    assert len(hidden) == exported.placeholders and all(set(e) == PLACEHOLDER_KEYS | {"digest"} for e in hidden)
    assert {e["seq"] for e in hidden} == {e.seq for e in others} - {1, 2}
    assert [(e["action"], e["project"]) for e in events[:2]] == [("person.added", None)] * 2  # the signers'
    assert [e["seq"] for e in events] == list(range(1, exported.head_seq + 1))
    assert independent_digest(events) == exported.evidence_digest == workspace_digest
    assert events[-1]["action"] == "project.maturity_changed" and events[-1]["project"] == SLUG

    result = verify_offline(exported.path, tmp_path)
    assert result.returncode == 0, result.stdout
    assert f"({len(events) - len(hidden)} in full, {len(hidden)} placeholders" in result.stdout
    records = json.loads(texts[SIGNED_RECORDS])["records"]
    # mine (the waiver, the promotion, the finding's move, the demo card's confirmation) and the
    # validator's (the approval, the demo's fairness findings accepted)
    assert len([r for r in records if r["by"] == "ana.engineer"]) == 4
    assert f"ok      signatures: {len(records)} signed records verify with the bundle's 2 public keys" in result.stdout
    (signer,) = [line for line in result.stdout.splitlines() if line.startswith("signer  ana.engineer (admin) key ")]
    assert "waiver 1 (v1 waived shadow_passed), transition 2 (v1 none → production)" in signer
    assert f"(v1 finding {finding.id} open → remediated)" in signer


def test_export_errors_say_what_to_do_and_leave_nothing(wb: Workbench, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(WorkbenchError, match=r"no project 'nope'.*mlwb projects new"):
        export_bundle(wb, "nope", out / "bundle")
    with pytest.raises(WorkbenchError, match=r"does not exist: create it"):
        export_bundle(wb, "nope", out / "missing" / "bundle")
    (out / "full").mkdir()
    (out / "full" / "notes.txt").write_text("earlier work")
    with pytest.raises(WorkbenchError, match=r"exists and is not empty: choose a new folder"):
        export_bundle(wb, "nope", out / "full")
    (out / "old.zip").write_bytes(b"PK")
    with pytest.raises(WorkbenchError, match=r"exists and is not empty"):
        export_bundle(wb, "nope", out / "old.zip")
    assert sorted(p.name for p in out.rglob("*")) == ["full", "notes.txt", "old.zip"]


def test_a_failed_write_leaves_nothing_and_a_broken_chain_is_never_exported(
        wb: Workbench, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    projects.create_project(wb, "churn", problem_type="binary_classification")
    out = tmp_path / "out"
    (out / "bundle").mkdir(parents=True)  # an empty folder is a fine target

    def disk_full(root: Path, archive: Path) -> None:
        archive.write_bytes(b"PK partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(evidence_bundle, "_zip_folder", disk_full)
    with pytest.raises(WorkbenchError, match="could not write .*No space left on device"):
        export_bundle(wb, "churn", out / "churn.zip")
    assert [p.name for p in out.iterdir()] == ["bundle"]
    monkeypatch.undo()

    wb.db.engine.dispose()
    with raw_registry(wb.workspace.database_path) as con:
        con.execute("UPDATE audit_event SET payload = ? WHERE seq = 1", ('{"maturity":"enterprise"}',))
    with pytest.raises(WorkbenchError, match=r"audit chain BROKEN at event 1.*No bundle was written"):
        export_bundle(wb, "churn", out / "bundle")
    assert [p.name for p in out.iterdir()] == ["bundle"] and not any((out / "bundle").iterdir())


# --- tampering with a bundle ---------------------------------------------------------------


def _flip_pdf_byte(root: Path) -> str:
    pdf = root / REPORT_PDF
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    return REPORT_PDF


def _edit_csv_cell(root: Path) -> str:
    name = next(n for n in read_manifest(root)["tables"] if "model-versions" in n)
    path = root / name
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][3] = "production" if rows[1][3] != "production" else "archived"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return name


def _edit_json(root: Path) -> str:
    path = root / EVIDENCE_JSON
    data = json.loads(path.read_text(encoding="utf-8"))
    data["maturity"] = "startup"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return EVIDENCE_JSON


@pytest.mark.parametrize("alter", [_flip_pdf_byte, _edit_csv_cell, _edit_json], ids=["pdf", "csv", "json"])
def test_an_altered_file_fails_naming_it(bundle: Path, alter) -> None:  # type: ignore[no-untyped-def]
    name = alter(bundle)
    verdict = verify_bundle(bundle)
    files = check(verdict, "files")
    assert not files.ok and name in files.detail and "changed after export" in files.detail
    assert not verdict.ok


def test_a_deleted_or_an_unlisted_file_fails(bundle: Path) -> None:
    name = next(iter(read_manifest(bundle)["tables"]))
    (bundle / name).unlink()
    (bundle / "evidence" / "extra.csv").write_text("a,b\n1,2\n")
    (bundle / ".DS_Store").write_bytes(b"\0")  # desktop clutter is not evidence: ignored
    files = check(verify_bundle(bundle), "files")
    assert not files.ok
    assert f"{name} is missing" in files.detail
    assert "evidence/extra.csv is not listed in the manifest" in files.detail
    assert ".DS_Store" not in files.detail


def test_a_manifest_entry_outside_the_bundle_is_refused(bundle: Path) -> None:
    manifest = read_manifest(bundle)
    manifest["files"]["../../etc/passwd"] = {"sha256": "0" * 64, "size": 1}
    write_manifest(bundle, manifest)
    files = check(verify_bundle(bundle), "files")
    assert not files.ok and "'../../etc/passwd' does not name a file inside the bundle" in files.detail


def test_an_edited_event_is_named_even_with_the_manifest_fixed(bundle: Path) -> None:
    events = read_events(bundle)
    edited = events[6]
    payload = json.loads(edited["payload"])
    payload["forged"] = True
    edited["payload"] = canonical(payload)
    write_events(bundle, events)
    fix_manifest(bundle, EVENTS)

    verdict = verify_bundle(bundle)  # the manifest's signature no longer holds, and the digest names the event
    assert failed(verdict) == {"manifest signature", "evidence digest"}
    detail = check(verdict, "evidence digest").detail
    assert f"event {edited['seq']}'s content does not match its recorded digest" in detail
    assert f"event {edited['seq'] + 1}'s" not in detail  # the edit is pinned to its own event


def test_a_deleted_event_breaks_the_chain_at_its_seq(bundle: Path) -> None:
    events = read_events(bundle)
    gone = events.pop(10)
    write_events(bundle, events)
    fix_manifest(bundle, EVENTS)
    verdict = verify_bundle(bundle)
    assert {"audit chain", "evidence digest"} <= failed(verdict)
    assert f"event {gone['seq']} is missing" in check(verdict, "audit chain").detail


def test_a_consistent_rewrite_is_caught_by_the_head_printed_in_the_pdf(bundle: Path) -> None:
    """Without the key a forger can still rewrite an event, re-link every later one, recompute
    the digests and the manifest: the bundle is then self-consistent, and only the head the PDF
    printed (and `mlwb audit verify` in the workspace) shows the rewrite, and, for a rewrite
    before a decision, the evidence digest its signer signed."""
    printed = read_manifest(bundle)["audit_head"]
    events = read_events(bundle)
    k = 20
    events[k]["payload"] = canonical({"note": "approved by the board"})
    previous = events[k - 1]["hash"]
    for event in events[k:]:  # a forger cannot compute the HMAC, so any plausible hash will do
        event["prev_hash"] = previous
        event["hash"] = previous = sha256((previous + canonical(event)).encode())
    rewrite_events(bundle, events)

    verdict = verify_bundle(bundle)
    assert failed(verdict) == {"manifest signature", "report head", "signatures", "checkpoint"}
    detail = check(verdict, "report head").detail
    assert f"prints audit head {printed['seq']} {printed['hash']}" in detail
    assert f"chain ends at {events[-1]['seq']} {events[-1]['hash']}" in detail
    assert "approval 1 was signed on evidence digest " in check(verdict, "signatures").detail


def test_an_edit_that_keeps_every_hash_is_caught_by_the_digest_printed_in_the_pdf(bundle: Path) -> None:
    """Editing an event's content while keeping its ``hash`` and every link, then recomputing
    the digests and the manifest, passes checks 1–3 (only the workspace key could tell); the
    evidence digest the PDF prints pins the original content."""
    printed = read_manifest(bundle)["evidence_digest"]["value"]
    events = read_events(bundle)
    edited = next(e for e in events if e["action"] == "model.approved")
    edited["actor"] = "someone.else"
    digest = rewrite_events(bundle, events)

    verdict = verify_bundle(bundle)
    assert failed(verdict) == {"manifest signature", "report head", "signatures", "checkpoint"}
    assert f"prints evidence digest {printed}, the manifest records {digest}" in check(verdict, "report head").detail
    # The promotion was signed on the digest through the approval's event: it no longer matches.
    assert "transition 2 was signed on evidence digest " in check(verdict, "signatures").detail


def _one_page_pdf(lines: list[str]) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, invariant=1)
    page.setFont("Courier", 6)
    for i, line in enumerate(lines):
        page.drawString(30, 800 - 10 * i, line)
    page.save()
    return buffer.getvalue()


@pytest.mark.parametrize("printed_digest", ["manifest", "other"])
def test_an_evidence_digest_printed_in_the_pdf_must_match(bundle: Path, printed_digest: str) -> None:
    """A PDF that prints ``Evidence digest: <64 hex>`` is held to it, whatever else it says (a
    one-page stand-in, so the wrong digest is the only difference)."""
    manifest = read_manifest(bundle)
    head, digest = manifest["audit_head"], manifest["evidence_digest"]["value"]
    shown = digest if printed_digest == "manifest" else "ab" * 32
    (bundle / REPORT_PDF).write_bytes(_one_page_pdf([
        f"Compliance report {SLUG}", f"Audit chain head: {head['seq']} {head['hash']}",
        f"Evidence digest: {shown}"]))
    fix_manifest(bundle, REPORT_PDF)
    report = check(verify_bundle(bundle), "report head")
    assert report.ok is (printed_digest == "manifest"), report.detail
    if not report.ok:
        assert f"prints evidence digest {shown}, the manifest records {digest}" in report.detail


# --- signatures ----------------------------------------------------------------------------


def read_records(bundle: Path) -> list[dict[str, Any]]:
    return json.loads((bundle / SIGNED_RECORDS).read_text(encoding="utf-8"))["records"]


def write_records(bundle: Path, records: list[dict[str, Any]]) -> None:
    (bundle / SIGNED_RECORDS).write_text(json.dumps({"records": records}, indent=2), encoding="utf-8")
    fix_manifest(bundle, SIGNED_RECORDS)


def test_an_approval_re_signed_by_an_unregistered_key_is_rejected(bundle: Path, tmp_path: Path) -> None:
    """Someone holding the bundle re-signs the validator's approval with a key of their own and
    fixes up the manifest: every file matches, the chain and the PDF hold, and the signature
    check refuses it, naming the key."""
    records = read_records(bundle)
    approval = next(r for r in records if r["record"] == "approval")
    intruder = new_signing_key()
    stated = {k: v for k, v in json.loads(approval["statement"]).items() if k not in ("format", "signer")}
    forged = intruder.sign(stated)
    approval.update(statement=forged.text, signature=forged.signature, signer_fingerprint=forged.fingerprint)
    write_records(bundle, records)

    result = verify_offline(bundle, tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line for line in lines if line.startswith("FAILED")][1:] == [
        f"FAILED  signatures: approval 1 is signed by key {short_fingerprint(intruder.fingerprint)}, which is not "
        "among the bundle's public keys"]
    assert lines[0].startswith("FAILED  manifest signature: manifest.json changed after ana.engineer signed it")
    assert lines[-1] == "bundle NOT verified: 2 of 7 checks failed"


def _claim_the_validators_key(bundle: Path, records: list[dict[str, Any]]) -> str:
    """The promotion, signed by ana.engineer, is made to name the validator's key."""
    validator = next(r for r in records if r["record"] == "approval")["signer_fingerprint"]
    promotion = next(r for r in records if r["record"] == "transition")
    promotion["signer_fingerprint"] = validator
    return (f"transition 2 names key {short_fingerprint(validator)} (demo-validator) but was signed with "
            f"{short_fingerprint(json.loads(promotion['statement'])['signer'])} (ana.engineer): a forged fingerprint")


def _change_the_comment(bundle: Path, records: list[dict[str, Any]]) -> str:
    approval = next(r for r in records if r["record"] == "approval")
    approval["comment"] = "Approved without reservations."
    return "approval 1's signed statement disagrees with the record on comment"


def _turn_it_into_a_rejection(bundle: Path, records: list[dict[str, Any]]) -> str:
    approval = next(r for r in records if r["record"] == "approval")
    approval["decision"], approval["by"] = "rejected", "ana.engineer"
    return ("approval 1's signed statement disagrees with the record on decision, who decided "
            "(ana.engineer recorded, demo-validator signed)")


def _add_a_key_by_hand(bundle: Path, records: list[dict[str, Any]]) -> str:
    """A forger re-signs the approval and also lists their key, under the validator's name."""
    intruder = new_signing_key()
    approval = next(r for r in records if r["record"] == "approval")
    stated = {k: v for k, v in json.loads(approval["statement"]).items() if k not in ("format", "signer")}
    forged = intruder.sign(stated)
    approval.update(statement=forged.text, signature=forged.signature, signer_fingerprint=forged.fingerprint)
    keys = json.loads((bundle / PUBLIC_KEYS).read_text(encoding="utf-8"))
    keys["keys"].append({"name": "demo-validator", "role": "validator", "fingerprint": intruder.fingerprint,
                         "public_key": intruder.public_hex})
    (bundle / PUBLIC_KEYS).write_text(json.dumps(keys), encoding="utf-8")
    fix_manifest(bundle, PUBLIC_KEYS)
    return f"demo-validator's key {short_fingerprint(intruder.fingerprint)} is registered by no person event in {EVENTS}"


def _drop_the_record(bundle: Path, records: list[dict[str, Any]]) -> str:
    records[:] = [r for r in records if r["record"] != "approval"]
    event = next(e for e in read_events(bundle) if e["action"] == "model.approved")
    return f"event {event['seq']} (model.approved) carries a signature that no record of {SIGNED_RECORDS} has"


@pytest.mark.parametrize("tamper", [_claim_the_validators_key, _change_the_comment, _turn_it_into_a_rejection,
                                    _add_a_key_by_hand, _drop_the_record],
                         ids=["forged-fingerprint", "comment", "decision", "key-added", "record-dropped"])
def test_a_signed_record_that_does_not_hold_fails_with_one_reason(bundle: Path, tamper) -> None:  # type: ignore[no-untyped-def]
    records = read_records(bundle)
    reason = tamper(bundle, records)
    write_records(bundle, records)
    verdict = verify_bundle(bundle)
    assert failed(verdict) == {"manifest signature", "signatures"}
    assert reason in check(verdict, "signatures").detail, check(verdict, "signatures").detail


# --- the signed manifest: forgeries that fix up the manifest, through the CLI --------------


def zipped(bundle: Path, archive: Path) -> Path:
    """Re-zip a tampered folder, as the forger hands it on."""
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(bundle).as_posix())
    return archive


def _forge_approvals_csv(bundle: Path) -> str:
    name = next(n for n in read_manifest(bundle)["tables"] if "approvals" in n)
    path = bundle / name
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1] = [cell.replace("demo-validator", "mallory") for cell in rows[1]]
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    fix_manifest(bundle, name)
    return name


def _forge_report_data(bundle: Path) -> str:
    _edit_json(bundle)
    fix_manifest(bundle, EVIDENCE_JSON)
    return EVIDENCE_JSON


def _forge_pdf_byte(bundle: Path) -> str:
    _flip_pdf_byte(bundle)
    fix_manifest(bundle, REPORT_PDF)
    return REPORT_PDF


def _remove_a_table(bundle: Path) -> str:
    manifest = read_manifest(bundle)
    name = next(n for n in manifest["tables"] if "approvals" in n)
    (bundle / name).unlink()
    del manifest["files"][name], manifest["tables"][name]
    write_manifest(bundle, manifest)
    return name


def _change_the_project(bundle: Path) -> str:
    manifest = read_manifest(bundle)
    manifest["project"] = "another-project"
    write_manifest(bundle, manifest)
    return MANIFEST


@pytest.mark.parametrize("forge", [_forge_approvals_csv, _forge_report_data, _forge_pdf_byte, _remove_a_table,
                                   _change_the_project],
                         ids=["approvals-csv", "report-data", "pdf-byte", "table-removed", "project"])
def test_cli_a_file_or_field_changed_with_the_manifest_fixed_up_fails_its_signature(
        bundle: Path, tmp_path: Path, forge) -> None:  # type: ignore[no-untyped-def]
    """The forgeries the manifest alone let through (`verify-bundle` said OK): the manifest's
    hash of the file (or the field) is rewritten to match, so only the exporter's signature over
    manifest.json can tell."""
    forge(bundle)
    result = verify_offline(zipped(bundle, tmp_path / "forged.zip"), tmp_path)
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("FAILED  manifest signature: manifest.json changed after ana.engineer signed it: "
                               "its SHA-256 is "), lines[0]
    assert lines[-1].startswith("bundle NOT verified: ")


def test_cli_a_manifest_re_signed_with_an_unregistered_key_fails(bundle: Path, tmp_path: Path) -> None:
    """The forger edits the approvals table, fixes the manifest and signs it again with a key of
    their own, even listing that key under the exporter's name: no person event registered it."""
    _forge_approvals_csv(bundle)
    intruder = new_signing_key()
    keys = json.loads((bundle / PUBLIC_KEYS).read_text(encoding="utf-8"))
    keys["keys"].append({"name": "ana.engineer", "role": "admin", "fingerprint": intruder.fingerprint,
                         "public_key": intruder.public_hex})
    (bundle / PUBLIC_KEYS).write_text(json.dumps(keys), encoding="utf-8")
    fix_manifest(bundle, PUBLIC_KEYS)
    signature = json.loads((bundle / MANIFEST_SIGNATURE).read_text(encoding="utf-8"))
    stated = {k: v for k, v in json.loads(signature["statement"]).items() if k not in ("format", "signer")}
    forged = intruder.sign({**stated, "manifest_sha256": sha256((bundle / MANIFEST).read_bytes())},
                           required=("kind", "manifest_sha256"))
    signature.update(statement=forged.text, signature=forged.signature, signer_fingerprint=forged.fingerprint)
    (bundle / MANIFEST_SIGNATURE).write_text(json.dumps(signature), encoding="utf-8")

    result = verify_offline(zipped(bundle, tmp_path / "re-signed.zip"), tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == (f"FAILED  manifest signature: manifest.json is signed by key "
                        f"{short_fingerprint(intruder.fingerprint)}, which is not among the bundle's registered public "
                        f"keys ({PUBLIC_KEYS}, each registered by a person event of the chain): the manifest was "
                        "re-signed by someone else")
    assert "is registered by no person event" in next(line for line in lines if "signatures:" in line)


def test_cli_a_removed_signature_fails_and_an_unsigned_bundle_is_never_verified(bundle: Path, tmp_path: Path) -> None:
    stripped = tmp_path / "stripped"
    shutil.copytree(bundle, stripped)
    (stripped / MANIFEST_SIGNATURE).unlink()
    result = verify_offline(stripped, tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        f"FAILED  manifest signature: {MANIFEST_SIGNATURE} is missing: manifest.json is not signed (the signature "
        "was removed, or the bundle was not written by `mlwb export`)")

    # A bundle in the format from before manifests were signed: read, never verified.
    (bundle / MANIFEST_SIGNATURE).unlink()
    manifest = read_manifest(bundle)
    manifest["format"] = "mlwb-evidence-bundle/2"
    del manifest["files"][CHECKPOINT]
    (bundle / CHECKPOINT).unlink()
    write_manifest(bundle, manifest)
    (tmp_path / "again").mkdir()
    result = verify_offline(bundle, tmp_path / "again")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("INCONCLUSIVE  manifest signature: manifest.json is unsigned "
                               "(format mlwb-evidence-bundle/2, written before bundles were signed)")
    assert lines[6].startswith("INCONCLUSIVE  checkpoint: no checkpoint.json")
    assert [line.split()[0] for line in lines[1:6]] == ["ok"] * 5
    assert lines[-1] == "bundle NOT verified: 2 inconclusive"


def test_cli_export_is_recorded_in_the_chain_with_the_manifest_digest(demo_home: Path, tmp_path: Path) -> None:
    """The export event follows the head the bundle describes and names the manifest's SHA-256
    and the exporter's key; `mlwb audit verify` holds, `mlwb audit log` shows it, and the
    project's next bundle carries it in full."""
    env = dict(os.environ)
    first = tmp_path / "first.zip"
    done = mlwb("export", SLUG, "--out", str(first), env=env)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(first) as zf:
        manifest_bytes, signature = zf.read(MANIFEST), json.loads(zf.read(MANIFEST_SIGNATURE))
    manifest = json.loads(manifest_bytes)
    digest = sha256(manifest_bytes)
    assert f"manifest SHA-256 {digest}" in done.stdout and f"audit event {manifest['audit_head']['seq'] + 1}" in done.stdout

    assert mlwb("audit", "verify", env=env).returncode == 0
    log = mlwb("audit", "log", "--project", SLUG, "--limit", "1", env=env).stdout.splitlines()
    assert log[0].split("\t")[:5:3] == [str(manifest["audit_head"]["seq"] + 1), "bundle.exported"]
    assert f"head_seq={manifest['audit_head']['seq']}, manifest_sha256={digest}, signer=" in log[0]
    bench = Workbench.open(Workspace(demo_home))
    try:
        key = bench.signing_key()
        assert key is not None and json.loads(signature["statement"])["signer"] == key.fingerprint
    finally:
        bench.close()
    with raw_registry(demo_home) as con:
        row = con.execute("select action, entity_type, entity_id, project_slug, payload from audit_event "
                          "order by seq desc limit 1").fetchone()
    stored = json.loads(row[4])
    assert row[:4] == ("bundle.exported", "bundle", digest, SLUG)
    assert (stored["manifest_sha256"], stored["signer"], stored["head_seq"], stored["written_to"]) == (
        digest, key.fingerprint, manifest["audit_head"]["seq"], first.name)

    second = tmp_path / "second.zip"
    assert mlwb("export", SLUG, "--out", str(second), env=env).returncode == 0
    with zipfile.ZipFile(second) as zf:
        events = [json.loads(line) for line in zf.read(EVENTS).decode().splitlines()]
    carried = [e for e in events if e.get("action") == "bundle.exported"]
    assert len(carried) == 1 and json.loads(carried[0]["payload"])["manifest_sha256"] == digest
    assert verify_offline(second, tmp_path).returncode == 0


def test_cli_export_needs_a_registered_signing_key(demo_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MLWB_SIGNING_KEY": str(tmp_path / "no-such.key")}
    done = mlwb("export", SLUG, "--out", str(tmp_path / "b.zip"), env=env)
    assert done.returncode == 2 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert "no signing key: create one with `mlwb people init`" in done.stderr
    stranger = new_signing_key()
    write_private_key(tmp_path / "stranger.key", stranger)
    env["MLWB_SIGNING_KEY"] = str(tmp_path / "stranger.key")
    done = mlwb("export", SLUG, "--out", str(tmp_path / "b.zip"), env=env)
    assert done.returncode == 2 and "is not registered in this workspace" in done.stderr
    assert "mlwb people add" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlwb-home", "stranger.key"]  # nothing written
    log = mlwb("audit", "log", "--limit", "1", env=dict(os.environ)).stdout
    assert "bundle.exported" not in log  # and nothing recorded


# --- the checkpoint a bundle carries -------------------------------------------------------


def test_cli_the_bundles_checkpoint_proves_the_chain_later_and_the_pdf_prints_it(demo_home: Path,
                                                                               tmp_path: Path) -> None:
    env = dict(os.environ)
    # a copy the attacker keeps, from before the checkpointed work (a file, or a database)
    backup = snapshot_registry(demo_home, tmp_path / "backup.sqlite3")
    with raw_registry(demo_home) as con:
        backup_head = con.execute("select seq, hash from audit_event order by seq desc limit 1").fetchone()
    bench = Workbench.open(Workspace(demo_home))
    projects.set_inventory(bench, SLUG, owner="jo.owner", reason="named in the model inventory")
    bench.close()
    out = tmp_path / "bundle.zip"
    assert mlwb("export", SLUG, "--out", str(out), env=env).returncode == 0
    extracted = tmp_path / "checkpoint.json"
    with zipfile.ZipFile(out) as zf:
        extracted.write_bytes(zf.read(CHECKPOINT))
        manifest = json.loads(zf.read(MANIFEST))
        text = pdf_text_of(zf.read(REPORT_PDF))
    checkpoint = json.loads(extracted.read_text())
    statement = checkpoint["statement"]
    head = manifest["audit_head"]
    assert (statement["seq"], statement["head"], statement["evidence_digest"]) == (
        head["seq"], head["hash"], manifest["evidence_digest"]["value"])

    # The PDF's audit appendix prints the same record: its signature and its signer's key.
    flat = text.replace(" ", "")
    assert f"Checkpointsignature:{checkpoint['signature']}" in flat
    assert f"Checkpointsignerkey:{fingerprint(checkpoint['public_key'])}" in flat
    assert f"Audit chain head: {head['seq']} {head['hash']}" in text

    # Later work, then the reviewer checks the workspace against the checkpoint they kept.
    bench = Workbench.open(Workspace(demo_home))
    projects.set_maturity(bench, SLUG, "enterprise", reason="audit asked for four-eyes approvals")
    bench.close()
    done = mlwb("audit", "verify", "--checkpoint", str(extracted), env=env)
    assert done.returncode == 0, done.stderr
    assert f"checkpoint of event {head['seq']} made {statement['made_at']}, signed by ana.engineer (admin)" in done.stdout
    assert "nothing behind it was truncated or rolled back" in done.stdout

    # The attacker rolls the registry back to their copy from before the checkpoint (rows and
    # events alike, so they agree) and lowers audit.head to match.
    restore_registry(demo_home, backup)
    anchor = json.loads((demo_home / "audit.head").read_text())
    (demo_home / "audit.head").write_text(json.dumps({db: {"seq": backup_head[0], "hash": backup_head[1]}
                                                      for db in anchor}))
    assert mlwb("audit", "verify", env=env).returncode == 0  # the workspace alone cannot tell
    done = mlwb("audit", "verify", "--checkpoint", str(extracted), env=env)
    assert done.returncode == 1 and "FAILED  the chain no longer holds that head" in done.stderr


def test_a_checkpoint_that_does_not_match_the_bundle_fails(bundle: Path) -> None:
    checkpoint = json.loads((bundle / CHECKPOINT).read_text(encoding="utf-8"))
    checkpoint["statement"]["seq"] -= 1
    (bundle / CHECKPOINT).write_text(json.dumps(checkpoint), encoding="utf-8")
    fix_manifest(bundle, CHECKPOINT)
    verdict = verify_bundle(bundle)
    assert failed(verdict) == {"manifest signature", "checkpoint"}
    assert "checkpoint.json's signature does not verify" in check(verdict, "checkpoint").detail


# --- the CLI contract of verify-bundle -----------------------------------------------------


def test_cli_names_a_changed_file_in_a_zip_and_exits_1(bundle: Path, tmp_path: Path) -> None:
    name = _edit_csv_cell(bundle)
    archive = tmp_path / "tampered.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(bundle).as_posix())
    result = verify_offline(archive, tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 10 and lines[1].startswith("FAILED  files: ") and name in lines[1]
    assert [line.split()[0] for line in lines[7:9]] == ["signer", "signer"]
    assert lines[-1] == "bundle NOT verified: 1 of 7 checks failed"


def test_cli_refuses_what_is_not_a_bundle_with_exit_2(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(os.urandom(2048))
    result = verify_offline(garbage, tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ") and "not an evidence bundle" in line

    folder = tmp_path / "just-a-folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    with pytest.raises(BundleUnusable, match="has no manifest.json"):
        verify_bundle(folder)
    with pytest.raises(BundleUnusable, match="does not exist"):
        verify_bundle(tmp_path / "nowhere")
