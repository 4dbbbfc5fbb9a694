"""The compliance report rendered from synthetic records, checked by the text a reader (or pypdf)
gets out of it.

A file existing proves nothing; these tests extract the text layer and look for what an
auditor needs: every stage, the drift and approval rows, the unbroken audit head, user text
printed literally, the same bytes from the same records. Every document's chapters and the
requirements map are tested in ``test_documents_pdf.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
from pypdf import PdfReader

from reports.data import ProjectRecords
from reports.markup import text as _text
from reports.render import render_document

from synthetic_records import build_records, with_card

HEAD_HASH = hashlib.sha256(b"audit-head-412").hexdigest()
HOSTILE = '<img src="/etc/passwd"/> <b>bold</b> & <font size=40>x</font>'
NON_LATIN = "Zoë — Ωmega, Кирилл"
# (KS, PSI) of the one monitoring batch, per feature
DRIFT = {"income": (0.041, 0.02), "age": (0.087, 0.07), "utilisation_ratio": (0.213, 0.31),
         "months_since_delinquency": (0.032, 0.01)}
STAGE_TITLES = (
    "Business goal",
    "Problem framing",
    "Data processing",
    "Model development",
    "Deployment",
    "Monitoring",
)
RUNS = 90  # long enough for the baseline ladder to split across pages


def _records(**options: object) -> ProjectRecords:
    """A project at stage 5 (Deployment): 90 runs, one batch with ``DRIFT``, an approval and a
    rejection of v1 by two reviewers, a hostile model card, non-Latin names; head 412."""
    r = build_records(runs=RUNS, batches=1, **options)  # type: ignore[arg-type]
    runs = tuple(replace(run, model_kind="LogisticRegression" if run.id % 3 == 0 else "HistGradientBoostingClassifier")
                 for run in r.runs)
    (batch,) = r.batches
    drift = tuple(replace(row, ks=DRIFT[row.feature][0], psi=DRIFT[row.feature][1],
                          drifted=DRIFT[row.feature][1] > 0.2) if row.feature in DRIFT else row
                  for row in batch.drift)
    (model,) = r.models
    (approved,) = model.approvals
    rejected = replace(approved, approver="Katherine Johnson", decision="rejected",
                       comment="the canary is missing")
    model = replace(model, created_by="Alan Turing", model_kind=runs[-1].model_kind,
                    approvals=(replace(approved, approver="Grace Hopper"), rejected))
    card = dict(r.card, caveats=HOSTILE, ethical_considerations=f"Reviewed by {NON_LATIN}.") if r.card else {}
    return with_card(replace(
        r, summary=replace(r.summary, name=f"Credit default risk — {NON_LATIN}", current_stage=5,
                           stage_title="Deployment"),
        statement=dict(r.statement, stakeholders_lose=f"Applicants with thin files; {NON_LATIN}"),
        runs=runs, models=(model,), batches=(replace(batch, drift=drift, max_psi=0.31),),
        audit_head_seq=412, audit_head_hash=HEAD_HASH, audit_event_count=413), card)


def _extract(path: Path) -> tuple[str, int]:
    reader = PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages), len(reader.pages)


def _flat(text: str) -> str:
    """Whitespace-collapsed text, so wrapped lines still match a phrase."""
    return " ".join(text.split())


def _render(records: ProjectRecords, out: Path) -> Path:
    return render_document("compliance", records, out).path


@pytest.fixture
def records() -> ProjectRecords:
    return _records()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    path = _render(_records(), tmp_path_factory.mktemp("compliance") / "report.pdf")
    text, pages = _extract(path)
    return path, text, pages


def test_report_is_a_multi_page_pdf(rendered: tuple[Path, str, int]) -> None:
    path, _, pages = rendered
    assert path.name == "report.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    assert pages > 1
    assert not list(path.parent.glob(".*partial")), "temp file left behind"


def test_every_stage_and_chapter_is_present(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    flat = _flat(text)
    for n, title in enumerate(STAGE_TITLES, start=1):
        assert f"Gate checks of stage {n} ({title})" in flat
    for chapter in ("Model card", "Drift over time", "Approvals and rejections", "Appendix: audit trail extract",
                    "Stage gates"):
        assert chapter in flat
    assert "Stage 5 of 6 — Deployment" in flat
    assert "mlwb audit verify" in flat


def test_page_footer_counts_pages(rendered: tuple[Path, str, int]) -> None:
    _, text, pages = rendered
    assert f"Page 1 of {pages}" in text
    assert f"Page {pages} of {pages}" in text


def test_audit_head_is_printed_whole(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    match = re.search(r"Audit chain head: (\d+) ([0-9a-f]{64})", text)
    assert match, "audit head missing or broken across lines"
    assert match.group(1) == "412"
    assert match.group(2) == HEAD_HASH
    assert "413" in text  # event count on the cover and in the appendix


def test_drift_rows_and_approvers(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    flat = _flat(text)
    for feature in DRIFT:
        assert feature in flat
    for value in ("0.213", "0.310", "0.041", "0.020"):
        assert value in flat
    assert "KS" in text and "PSI" in text
    for name in ("Grace Hopper", "Katherine Johnson", "Alan Turing"):
        assert name in flat
    assert "PASS" in text and "MISSING" in text


def test_long_table_splits_and_repeats_its_header(rendered: tuple[Path, str, int]) -> None:
    path, _, _ = rendered
    row = re.compile(r"\b(baseline|simple|complex) \d+ (LogisticRegression|HistGradientBoostingClassifier)\b")
    pages = [_flat(p.extract_text()) for p in PdfReader(str(path)).pages]
    pages_with_runs = [page for page in pages if row.search(page)]  # the baseline ladder's rows
    assert len(pages_with_runs) >= 2
    assert all("CV mean ± std" in page for page in pages_with_runs)
    assert f"{RUNS} LogisticRegression" in " ".join(pages_with_runs)


def test_user_markup_is_printed_literally(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    assert HOSTILE in _flat(text)


def test_hostile_text_in_every_field_does_not_break_rendering(records: ProjectRecords, tmp_path: Path) -> None:
    nasty = HOSTILE + " \x00\x07\x1b[31m <para> </para> <br/> &amp; $x^$ Ελληνικά ქართული 😀 "
    hostile = build_records(text=nasty)
    data = replace(hostile, built_by=nasty, summary=replace(hostile.summary, slug=nasty, name=nasty,
                                                            problem_type=nasty, maturity=nasty))
    text, _ = _extract(_render(data, tmp_path / "nasty.pdf"))
    assert HOSTILE in _flat(text)
    assert "&amp; $x^$ Ελληνικά ქართული 😀" in _flat(text)
    assert "\x00" not in text and "\x1b" not in text
    # The name, slug and every other field show the control characters as code points, in the
    # body and in the footer drawn on the canvas (which shows the start of the slug).
    assert "[U+0000][U+0007][U+001B][31m" in _flat(text)
    assert "x</font> [U+0000][U+0007][U+001B][31m <pa…\nPage 2 of" in text


def test_text_escapes_and_spells_out_control_characters() -> None:
    assert _text("a<b>&c\x00\x1b\x7f\x85") == "a&lt;b&gt;&amp;c[U+0000][U+001B][U+007F][U+0085]"
    assert _text("line one\r\nline two\tend") == "line one<br/>line two    end"
    # With a font's coverage, a character it cannot draw is spelled out, never a silent box.
    coverage = {ord(c) for c in "ab "}
    assert _text("a 中 b\u200d", coverage) == "a [U+4E2D] b"


def test_non_latin_text_survives(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    assert NON_LATIN in text


def test_same_data_gives_same_bytes(records: ProjectRecords, rendered: tuple[Path, str, int],
                                    tmp_path: Path) -> None:
    again = _render(records, tmp_path / "b.pdf").read_bytes()
    assert again == rendered[0].read_bytes()


def test_empty_sections_say_none_recorded(tmp_path: Path) -> None:
    empty = build_records(card=False, batches=0)
    (model,) = empty.models
    data = replace(empty, statement={}, checklist={}, models=(replace(model, approvals=()),), review_requests=(),
                   audit_head_seq=412, audit_head_hash=HEAD_HASH)
    text, pages = _extract(_render(data, tmp_path / "empty.pdf"))
    flat = _flat(text)
    assert "Intended use MISSING" in flat  # no model card written
    assert re.search(r"Drift per feature, prediction and label None recorded", flat)
    assert re.search(r"Approvals and rejections None recorded", flat)
    assert "No reviewer comments recorded" in flat
    assert "Objective not stated" in flat  # no problem statement written
    assert "None recorded" in flat
    assert re.search(r"Audit chain head: 412 ([0-9a-f]{64})", text)
    assert pages > 1


def test_importing_reports_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, reports, reports.compliance; "
            "print(any(m.startswith(('reportlab', 'matplotlib')) for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "False"


def test_deliverable_longer_than_a_page_splits_inside_its_row(records: ProjectRecords, tmp_path: Path) -> None:
    # Regression: a one-page problem statement in a table cell raised LayoutError.
    statement = "\n".join(f"Paragraph {i}: " + "the objective is stated at length " * 30
                          for i in range(20))
    data = with_card(replace(records, statement=dict(records.statement, objective=statement + " THE-END")),
                     dict(records.card, intended_use=statement))
    text, _ = _extract(_render(data, tmp_path / "long.pdf"))
    assert "THE-END" in text
    assert "Paragraph 19:" in text


def test_renders_with_base14_fonts_when_no_truetype_font_is_found(
        records: ProjectRecords, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.fonts as fonts

    fallback = fonts.FontSet("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier",
                             unicode=False, coverage=fonts._base14_coverage())
    monkeypatch.setattr(fonts, "register_fonts", lambda: fallback)
    text, _ = _extract(_render(records, tmp_path / "base14.pdf"))
    assert re.search(rf"Audit chain head: 412 {HEAD_HASH}", text)
    assert "Gate checks of stage 6 (Monitoring)" in _flat(text)
