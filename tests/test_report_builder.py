"""Building reports as background jobs: what a build writes, records, and refuses.

Real demo workspace, real worker processes, real PDFs read back with pypdf.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.errors import JobCancelled, NotFound, WorkbenchError
from app.jobs import JobRunner
from app.services import audit_trail, report_builder
from app.services.jobs import WorkbenchLedger
from app.services.report_builder import build_report, recent_reports
from app.services.workbench import Workbench
from storage.models import AuditEvent, Base
from tests.conftest import raw_registry

SLUG = "ctr-demo"
REPO = Path(__file__).resolve().parents[1]


def _counts(wb: Workbench) -> dict[str, int]:
    """Rows per table: what "nothing else changed" is checked against."""
    with wb.read() as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0 for t in Base.metadata.sorted_tables}


def _events_after(wb: Workbench, seq: int) -> list[AuditEvent]:
    with wb.read() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.seq > seq).order_by(AuditEvent.seq)))
        session.expunge_all()
        return events


def _flat_text(path: Path) -> str:
    """The PDF's text with all whitespace removed (a 64-hex hash may wrap across lines)."""
    return re.sub(r"\s+", "", "".join(page.extract_text() or "" for page in PdfReader(str(path)).pages))


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """An empty folder for the PDFs (``tmp_path`` also holds the workspace)."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def _leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


def test_a_build_writes_the_pdf_and_records_one_report_built_event(demo_wb: Workbench, out_dir: Path) -> None:
    before_counts = _counts(demo_wb)
    head, _ = audit_trail.head(demo_wb)
    assert head is not None
    verdict, digest = audit_trail.verify_with_digest(demo_wb)
    out = out_dir / "ctr demo.pdf"
    built = build_report(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG, "compliance", out)

    assert built.path == out.resolve() and out.is_file() and out.read_bytes().startswith(b"%PDF")
    assert built.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert built.pages == len(PdfReader(str(out)).pages) > 1
    assert not _leftovers(out_dir), "the private build folder was left behind"
    # the PDF prints the head the records were at before the build
    assert (built.head_seq, built.head_hash) == (head.seq, head.hash)
    assert head.hash in _flat_text(out)
    # the chain was verified (in the rendering worker) through that head, with its evidence digest
    assert verdict.head == head
    assert f"Evidencedigest:{digest}" in _flat_text(out)
    assert re.sub(r"\s+", "", verdict.describe()) in _flat_text(out)

    # nothing changed but ONE new audit event, report.built (the worker has no job row)
    after_counts = _counts(demo_wb)
    assert {k: v for k, v in after_counts.items() if k != "audit_event"} == \
        {k: v for k, v in before_counts.items() if k != "audit_event"}
    assert after_counts["audit_event"] == before_counts["audit_event"] + 1
    (event,) = _events_after(demo_wb, head.seq)
    assert event.action == "report.built"
    payload = json.loads(event.payload)
    assert payload["document"] == "compliance" and payload["file"] == out.name
    assert payload["sha256"] == built.sha256 and payload["pages"] == built.pages
    assert (payload["printed_head_seq"], payload["printed_head_hash"]) == (head.seq, head.hash)
    assert event.project_slug == SLUG
    assert audit_trail.verify(demo_wb).ok

    # the list of reports built checks each file against its recorded hash
    (listed,) = recent_reports(demo_wb, SLUG)
    assert (listed.kind, listed.path, listed.sha256, listed.pages, listed.file_state) == \
        ("compliance", out.resolve(), built.sha256, built.pages, "ok")
    assert (listed.head_seq, listed.head_hash, listed.event_seq) == (head.seq, head.hash, event.seq)
    with out.open("ab") as fh:
        fh.write(b"%% edited\n")
    assert recent_reports(demo_wb)[0].file_state == "changed"
    out.unlink()
    assert recent_reports(demo_wb, SLUG)[0].file_state == "missing"


def test_a_broken_chain_is_reported_in_the_document_it_was_verified_for(demo_wb: Workbench, out_dir: Path) -> None:
    """The rendering worker verifies the chain: an edited event shows as BROKEN in the report,
    with its findings, and no evidence digest is printed for a chain that does not verify."""
    demo_wb.db.engine.dispose()
    con = raw_registry(demo_wb.workspace.database_path)
    con.execute("UPDATE audit_event SET actor = 'someone.else' WHERE seq = 5")
    con.commit()
    con.close()
    built = build_report(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG, "validation", out_dir / "v.pdf",
                         deterministic=True)
    text = _flat_text(built.path)
    assert "auditchainBROKENatevent5:itscontentdoesnotmatchitshash(edited)" in text
    assert "Evidencedigest" not in text


def test_the_default_name_is_in_the_exports_folder_and_never_overwrites(demo_wb: Workbench) -> None:
    runner = JobRunner(WorkbenchLedger(demo_wb))
    first = build_report(demo_wb, runner, SLUG, deterministic=True)
    second = build_report(demo_wb, runner, SLUG, deterministic=True)
    exports = demo_wb.workspace.exports_dir.resolve()
    for built in (first, second):
        assert built.path.parent == exports and built.path.is_file()
        assert re.fullmatch(rf"{SLUG}-compliance-\d{{8}}-\d{{6}}(-\d+)?\.pdf", built.path.name)
    assert first.path != second.path


def test_deterministic_builds_are_byte_identical_and_record_nothing(demo_wb: Workbench, out_dir: Path) -> None:
    before = _counts(demo_wb)
    head, _ = audit_trail.head(demo_wb)
    runner = JobRunner(WorkbenchLedger(demo_wb))
    a = build_report(demo_wb, runner, SLUG, "compliance", out_dir / "a.pdf", deterministic=True)
    b = build_report(demo_wb, runner, SLUG, "compliance", out_dir / "b.pdf", deterministic=True)
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.sha256 == b.sha256 and a.deterministic and b.deterministic
    assert _counts(demo_wb) == before, "a deterministic build changed the records"
    assert audit_trail.head(demo_wb)[0] == head
    assert (a.head_seq, a.head_hash) == (head.seq, head.hash)
    assert recent_reports(demo_wb, SLUG) == []
    assert not _leftovers(out_dir)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": "nope"}, WorkbenchError, "unknown document 'nope': choose one of compliance"),
        ({"out": "{tmp}/report.txt"}, WorkbenchError, "does not end in .pdf"),
        ({"out": "{tmp}/missing/report.pdf"}, WorkbenchError, "/missing does not exist"),
        ({"batches": "2026-01"}, WorkbenchError, "not about monitoring batches: leave out --batches"),
        ({"batches": "a:b:c"}, WorkbenchError, "is not LABEL or FIRST:LAST"),
        ({"slug": "nope"}, NotFound, "no project 'nope'"),
    ],
    ids=["kind", "suffix", "folder", "scope", "batches", "project"],
)
def test_a_bad_request_is_refused_before_anything_is_written(
    demo_wb: Workbench, out_dir: Path, kwargs: dict, error: type[Exception], message: str
) -> None:
    before = _counts(demo_wb)
    exports = set(demo_wb.workspace.exports_dir.iterdir())
    options = {"kind": "compliance", "out": str(out_dir / "r.pdf"), "slug": SLUG, **kwargs}
    options["out"] = options["out"].replace("{tmp}", str(out_dir))
    with pytest.raises(error) as caught:
        build_report(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), options.pop("slug"), options.pop("kind"),
                     options.pop("out"), **options)
    assert message in str(caught.value)
    assert _counts(demo_wb) == before
    assert list(out_dir.iterdir()) == [] and set(demo_wb.workspace.exports_dir.iterdir()) == exports


@pytest.mark.parametrize("deterministic", [False, True], ids=["normal", "deterministic"])
def test_a_cancelled_build_leaves_no_file_and_no_event(demo_wb: Workbench, out_dir: Path,
                                                        deterministic: bool) -> None:
    head, _ = audit_trail.head(demo_wb)
    cancel = threading.Event()
    out = out_dir / "cancelled.pdf"

    def on_progress(job_id: int, fraction: float, message: str) -> None:
        cancel.set()  # the worker is running: stop it

    with pytest.raises(JobCancelled):
        build_report(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG, "compliance", out, deterministic=deterministic,
                     on_progress=on_progress, cancel=cancel)
    assert list(out_dir.iterdir()) == []
    actions = [e.action for e in _events_after(demo_wb, head.seq)]
    assert "report.built" not in actions
    assert actions == []
    assert recent_reports(demo_wb, SLUG) == []


def test_a_failed_build_leaves_no_file_and_no_event(demo_wb: Workbench, out_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker refuses data that is not a document's (a real failure in the real worker)."""
    head, _ = audit_trail.head(demo_wb)
    not_a_document = SimpleNamespace(audit_head_seq=head.seq, audit_head_hash=head.hash)
    monkeypatch.setitem(report_builder.COLLECTORS, "compliance", lambda wb, slug, **_: not_a_document)
    with pytest.raises(WorkbenchError, match=r"the report build failed: "):
        build_report(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG, "compliance", out_dir / "failed.pdf")
    assert list(out_dir.iterdir()) == []
    assert _events_after(demo_wb, head.seq) == []
    assert recent_reports(demo_wb, SLUG) == []


def _mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=120)


def test_cli_builds_a_report_and_lists_it(demo_home: Path, out_dir: Path) -> None:
    out = out_dir / "cli.pdf"
    result = _mlwb("report", SLUG, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    first, second = result.stdout.splitlines()[:2]
    match = re.fullmatch(rf"wrote {re.escape(str(out))} \(audit chain head (\d+) ([0-9a-f]{{64}})\)", first)
    assert match, first
    assert re.fullmatch(r"  Compliance report, v\d+: \d+ pages, sha256 [0-9a-f]{64}", second)
    assert second.rsplit(" ", 1)[1] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert match[2] in _flat_text(out)

    listed = _mlwb("reports", SLUG)
    assert listed.returncode == 0, listed.stderr
    (row,) = listed.stdout.splitlines()
    fields = row.split("\t")
    assert fields[1:3] == [SLUG, "compliance"] and re.fullmatch(r"v\d+", fields[3])
    assert fields[5:] == [f"head {match[1]}", "ok", str(out)]

    refused = _mlwb("report", SLUG, "--kind", "nope")
    assert refused.returncode == 2 and refused.stdout == ""
    errors = [line for line in refused.stderr.splitlines() if not line.startswith("note:")]
    assert len(errors) == 1 and errors[0].startswith("error: unknown document 'nope'")
