"""The stage evidence PDF (the project screen's ``ReportData`` rendered as a compliance report),
checked by the text a reader (or pypdf) gets out of it.

A file existing proves nothing; these tests extract the text layer and look for what an
auditor needs: every stage heading, the drift and approval rows, the unbroken audit head.
The full compliance report and the other documents are tested in ``test_documents_pdf.py``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest

from reports.data import (
    ChartSeries,
    GateCheckRow,
    ReportData,
    StageChapter,
    TableData,
)
from reports.compliance import render_compliance_report
from reports.markup import text as _text

HEAD_HASH = hashlib.sha256(b"audit-head-412").hexdigest()
HOSTILE = '<img src="/etc/passwd"/> <b>bold</b> & <font size=40>x</font>'
NON_LATIN = "Zoë — Ωmega, Кирилл"
FEATURES = ("income", "age", "utilisation_ratio", "months_since_delinquency")
STAGE_TITLES = (
    "Business goal",
    "Problem framing",
    "Data processing",
    "Model development",
    "Deployment",
    "Monitoring",
)


def _chapters() -> tuple[StageChapter, ...]:
    runs = TableData(
        title="Runs",
        columns=("Run", "Model", "Dataset version", "ROC AUC", "Brier", "Notes"),
        rows=tuple(
            (
                f"run-{i:03d}",
                ("HistGradientBoostingClassifier" if i % 3 else "LogisticRegression"),
                hashlib.sha256(f"ds{i}".encode()).hexdigest(),
                f"{0.70 + i / 200:.3f}",
                f"{0.20 - i / 1000:.3f}",
                "5-fold stratified CV; tuned with Bayesian search over learning rate, "
                "depth and L2 regularisation",
            )
            for i in range(48)  # long enough to split across pages
        ),
        highlight=(0, 47),
        note="Highlighted: the rule baseline and the promoted candidate.",
    )
    quality = TableData(
        title="Data quality report",
        columns=("Column", "Missing %", "Outliers", "Finding"),
        rows=(
            ("income", "0.4", "12", "ok"),
            ("age", "0.0", "0", "ok"),
            ("customer_id", "0.0", "0", "identifier: excluded from features"),
            ("default_flag_copy", "0.0", "0", "target leak: identical to label"),
        ),
        highlight=(3,),
    )
    deliverables = {
        1: (("Objective", "Reduce credit losses on new personal loans by 15 % within a year."),
            ("Stakeholders", f"Risk team (gain); applicants with thin files (may lose); {NON_LATIN}"),
            ("Business → ML metric", "Loss rate → ROC AUC ≥ 0.75, calibration error ≤ 0.05")),
        2: (("Target", "default within 12 months of origination"),
            ("Features", "income, age, utilisation_ratio, months_since_delinquency")),
        3: (("Dataset version", hashlib.sha256(b"ds-final").hexdigest()),
            ("Split", "temporal: train ≤ 2023-06, test 2023-07 … 2023-12")),
        4: (("Candidate", "HistGradientBoostingClassifier (run-047)"),
            ("Baseline", "rule: utilisation_ratio > 0.8 (run-000)")),
        5: (("Registry version", "credit-default v3 (champion)"),),
        6: (("Monitoring", "weekly PSI and KS on all features; SLA p95 latency 80 ms"),),
    }
    chapters = []
    for n, title in enumerate(STAGE_TITLES, start=1):
        checks = (
            GateCheckRow(f"{title} deliverable complete", passed=True, required=True),
            GateCheckRow("Reviewer sign-off", passed=n <= 4, required=True,
                         detail="" if n <= 4 else "awaiting validator"),
            GateCheckRow("Fairness evaluation", passed=False, required=False,
                         detail="waived under the growth profile"),
        )
        tables = {3: (quality,), 4: (runs,)}.get(n, ())
        chapters.append(StageChapter(
            number=n, title=title, risk=("wrong problem", "bad labels", "data leakage",
                                         "overfitting, no baseline", "silent failure",
                                         "undetected drift")[n - 1],
            gate_passed=n <= 4, deliverables=deliverables[n], checks=checks, tables=tables))
    return tuple(chapters)


@pytest.fixture
def report_data() -> ReportData:
    return _report_data()


def _report_data() -> ReportData:
    drift_rows = []
    for name, ks, psi in zip(FEATURES, (0.041, 0.087, 0.213, 0.032), (0.02, 0.07, 0.31, 0.01)):
        drift_rows.append((name, "KS", f"{ks:.3f}", "0.100", "drift" if ks > 0.1 else "ok"))
        drift_rows.append((name, "PSI", f"{psi:.3f}", "0.200", "drift" if psi > 0.2 else "ok"))
    return ReportData(
        project_slug="credit-default",
        project_name=f"Credit default risk — {NON_LATIN}",
        problem_type="binary classification",
        maturity="growth",
        current_stage=5,
        generated_at="2024-03-01T12:00:00Z",
        generated_by="a.validator",
        chapters=_chapters(),
        model_card=(
            ("Intended use", "Score new personal-loan applications.\nNot for existing customers."),
            ("Limitations", HOSTILE),
            ("Ethical considerations", f"Reviewed by {NON_LATIN}."),
        ),
        drift_table=TableData(
            title="Data drift, batch 2024-02",
            columns=("Feature", "Test", "Statistic", "Threshold", "Result"),
            rows=tuple(drift_rows),
            highlight=(4, 5),
            note="KS: two-sample Kolmogorov–Smirnov statistic. PSI: population stability index.",
        ),
        approvals=TableData(
            title="Stage approvals",
            columns=("Stage", "Decision", "Approver", "Author", "When"),
            rows=(
                ("4 Model development", "approved", "Grace Hopper", "Alan Turing",
                 "2024-02-20T09:14:00Z"),
                ("5 Deployment", "rejected", "Katherine Johnson", "Alan Turing",
                 "2024-02-28T16:02:00Z"),
            ),
            highlight=(1,),
        ),
        audit_head_seq=412,
        audit_head_hash=HEAD_HASH,
        audit_event_count=413,
        charts=(
            ChartSeries("PSI per feature", FEATURES, (0.02, 0.07, 0.31, 0.01), threshold=0.2),
            ChartSeries("KS statistic per feature", FEATURES, (0.041, 0.087, 0.213, 0.032),
                        threshold=0.1),
        ),
    )


def _extract(path: Path) -> tuple[str, int]:
    reader = pypdf.PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages), len(reader.pages)


def _flat(text: str) -> str:
    """Whitespace-collapsed text, so wrapped lines still match a phrase."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    path = render_compliance_report(_report_data(), tmp_path_factory.mktemp("evidence") / "report.pdf")
    text, pages = _extract(path)
    return path, text, pages


def test_report_is_a_multi_page_pdf(rendered: tuple[Path, str, int]) -> None:
    path, _, pages = rendered
    assert path.name == "report.pdf"
    assert path.read_bytes().startswith(b"%PDF-")
    assert pages > 1
    assert not list(path.parent.glob(".*partial")), "temp file left behind"


def test_every_stage_heading_and_chapter_is_present(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    for n, title in enumerate(STAGE_TITLES, start=1):
        assert f"Stage {n}: {title}" in text
    for chapter in ("Model card", "Drift", "Approvals", "Audit trail", "Stage summary"):
        assert chapter in text
    assert "Stage 5 of 6 — Deployment" in _flat(text)
    assert "mlwb audit verify" in _flat(text)


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
    assert "413" in text  # event count in the audit chapter


def test_drift_rows_and_approvers(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    flat = _flat(text)
    for feature in FEATURES:
        assert feature in flat
    for value in ("0.213", "0.310", "0.041", "0.020"):
        assert value in flat
    assert "KS" in text and "PSI" in text
    for name in ("Grace Hopper", "Katherine Johnson", "Alan Turing"):
        assert name in flat
    assert "PASS" in text and "MISSING" in text


def test_long_table_splits_and_repeats_its_header(rendered: tuple[Path, str, int]) -> None:
    path, _, _ = rendered
    reader = pypdf.PdfReader(str(path))
    row = re.compile(r"run-0\d\d\s+(LogisticRegression|HistGradientBoostingClassifier)")
    pages_with_runs = [p.extract_text() for p in reader.pages if row.search(p.extract_text())]
    assert len(pages_with_runs) >= 2
    assert all("Dataset version" in page for page in pages_with_runs)
    assert "run-047" in "".join(pages_with_runs)


def test_user_markup_is_printed_literally(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    assert HOSTILE in _flat(text)


def test_hostile_text_in_every_field_does_not_break_rendering(
        report_data: ReportData, tmp_path: Path) -> None:
    nasty = HOSTILE + " \x00\x07\x1b[31m <para> </para> <br/> &amp; $x^$ Ελληνικά ქართული 😀 "
    table = TableData(title=nasty, columns=(nasty, "b"), rows=((nasty, nasty),),
                      highlight=(0, 9), note=nasty)
    chapter = replace(report_data.chapters[0], title=nasty, risk=nasty,
                      deliverables=((nasty, nasty),),
                      checks=(GateCheckRow(nasty, False, True, nasty),), tables=(table,))
    data = replace(
        report_data, project_slug=nasty, project_name=nasty, problem_type=nasty,
        maturity=nasty, generated_by=nasty, chapters=(chapter,) + report_data.chapters[1:],
        model_card=((nasty, nasty),), drift_table=table, approvals=table,
        charts=(ChartSeries(nasty, (nasty, "$\\frac{"), (1.0, float("nan")), threshold=0.5),))
    path = render_compliance_report(data, tmp_path / "nasty.pdf")
    text, _ = _extract(path)
    assert HOSTILE in _flat(text)
    assert "&amp; $x^$ Ελληνικά ქართული 😀" in _flat(text)
    assert "\x00" not in text and "\x1b" not in text


def test_text_escapes_and_strips_control_characters() -> None:
    assert _text("a<b>&c\x00\x1b\x7f") == "a&lt;b&gt;&amp;c"
    assert _text("line one\r\nline two\tend") == "line one<br/>line two    end"
    # With a font's coverage, a character it cannot draw is spelled out, never a silent box.
    coverage = {ord(c) for c in "ab "}
    assert _text("a 中 b\u200d", coverage) == "a [U+4E2D] b"


def test_non_latin_text_survives(rendered: tuple[Path, str, int]) -> None:
    _, text, _ = rendered
    assert NON_LATIN in text


def test_same_data_gives_same_bytes(report_data: ReportData, rendered: tuple[Path, str, int],
                                    tmp_path: Path) -> None:
    again = render_compliance_report(report_data, tmp_path / "b.pdf").read_bytes()
    assert again == rendered[0].read_bytes()


def test_empty_sections_say_none_recorded(report_data: ReportData, tmp_path: Path) -> None:
    empty_stage = replace(report_data.chapters[0], deliverables=(), checks=(), tables=(
        TableData(title="Quality report", columns=("Column", "Finding"), rows=()),))
    data = replace(
        report_data,
        chapters=(empty_stage,) + report_data.chapters[1:],
        model_card=(),
        drift_table=TableData(title="", columns=("Feature", "Test", "Statistic"), rows=()),
        approvals=TableData(title="", columns=(), rows=()),
        charts=(),
    )
    path = render_compliance_report(data, tmp_path / "empty.pdf")
    text, pages = _extract(path)
    flat = _flat(text)
    assert "No model card recorded" in flat
    assert "No drift results recorded" in flat
    assert "No approvals recorded" in flat
    assert "No deliverables recorded" in flat
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


def test_deliverable_longer_than_a_page_splits_inside_its_row(
        report_data: ReportData, tmp_path: Path) -> None:
    # Regression: a one-page problem statement in a table cell raised LayoutError.
    statement = "\n".join(f"Paragraph {i}: " + "the objective is stated at length " * 30
                          for i in range(20))
    chapter = replace(report_data.chapters[0],
                      deliverables=(("Problem statement", statement + " THE-END"),))
    data = replace(report_data, chapters=(chapter,) + report_data.chapters[1:],
                   model_card=(("Intended use", statement),))
    text, _ = _extract(render_compliance_report(data, tmp_path / "long.pdf"))
    assert "THE-END" in text
    assert "Paragraph 19:" in text


def test_renders_with_base14_fonts_when_no_truetype_font_is_found(
        report_data: ReportData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reports.fonts as fonts

    fallback = fonts.FontSet("Helvetica", "Helvetica-Bold", "Helvetica-Oblique", "Courier",
                             unicode=False, coverage=fonts._base14_coverage())
    monkeypatch.setattr(fonts, "register_fonts", lambda: fallback)
    text, _ = _extract(render_compliance_report(report_data, tmp_path / "base14.pdf"))
    assert re.search(rf"Audit chain head: 412 {HEAD_HASH}", text)
    assert "Stage 6: Monitoring" in text
