"""Every document, rendered from synthetic records (no database) and read back with pypdf.

The records are the same service views the collectors return, built in ``conftest.py``; here
they carry hostile and non-Latin text in every user field, or hundreds of batches and runs.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from pathlib import Path

import pypdf
import pytest

from reports.data import DocumentData, ProjectRecords
from reports.render import DOCUMENTS, build_document, render_document

from synthetic_records import build_records, with_card, with_kind

HOSTILE = '<img src="/etc/passwd"/> <b>bold</b> & <font size=40>x</font> &amp; &lt;para&gt; <br/>'
# Scripts DejaVu Sans draws, written left to right (the Yijing hexagram is the one CJK block it has).
SCRIPTS = "Zoë — Ωmega, Кирилл, ქართული, Հայերեն, ䷀, 😀"
ARABIC = "مرحبا"
HEBREW = "שלום"
CJK = "中文"  # no glyph in DejaVu: printed as code points, never as empty boxes
USER_TEXT = f"{HOSTILE} {SCRIPTS} {ARABIC} {HEBREW} {CJK} \x00\x07\x1b[31m end"


def _text(path: Path) -> tuple[str, int]:
    reader = pypdf.PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages), len(reader.pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def hostile_pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, int]]:
    records = build_records(text=USER_TEXT)
    out = tmp_path_factory.mktemp("hostile")
    return {kind: _text(render_document(kind, with_kind(records, kind), out / f"{kind}.pdf").path)
            for kind in DOCUMENTS}


@pytest.mark.parametrize("kind", list(DOCUMENTS))
def test_user_text_comes_out_verbatim_in_every_document(hostile_pdfs: dict[str, tuple[str, int]],
                                                        kind: str) -> None:
    text, _ = hostile_pdfs[kind]
    flat = _flat(text)
    assert HOSTILE in flat, "markup in user text was obeyed or altered"
    assert SCRIPTS in flat
    # Arabic is shaped: its letters are drawn in their joined forms (the text layer maps them to
    # the Arabic presentation forms, which NFKC folds back to the letters typed), and both
    # right-to-left words are read back in logical order, not reversed.
    assert re.search("[\ufe70-\ufefc]", flat), "Arabic letters were drawn unjoined"
    folded = unicodedata.normalize("NFKC", flat)
    assert ARABIC in folded and HEBREW in folded
    assert "[U+4E2D][U+6587]" in flat and CJK not in flat
    assert not re.search(r"[\x00-\x08\x0b-\x1f]", text), "a control character reached the text layer"
    # ... but it is not dropped either: it is shown as its code point, like a missing glyph.
    assert "[U+0000][U+0007][U+001B][31m end" in flat


def test_compliance_report_has_every_chapter_and_the_requirements_map(
        hostile_pdfs: dict[str, tuple[str, int]]) -> None:
    from reports.requirements import CHAPTERS

    text, pages = hostile_pdfs["compliance"]
    flat = _flat(text)
    for number, (_, title) in enumerate(CHAPTERS, start=1):
        assert f"{number}. {title}" in flat, f"chapter {title} missing"
    assert "Contents" in flat and f"Page {pages} of {pages}" in flat
    assert "Chapter SR 11-7 EU AI Act Annex IV NIST AI RMF Model card" in flat
    assert "Framework Reference Required item Chapter Status Evidence" in flat
    rows = re.findall(r"(SR 11-7|EU AI Act Annex IV|NIST AI RMF|Model card) .{0,160}?(PRESENT|MISSING|PARTIAL|FAILED)",
                      flat)
    assert {framework for framework, _ in rows} == {"SR 11-7", "EU AI Act Annex IV", "NIST AI RMF", "Model card"}
    # The synthetic project waived its canary and has no held-out test score: both MISSING.
    assert re.search(r"MISSING SR 11-7 Implementation Canary release before production", flat)
    assert re.search(r"MISSING SR 11-7 Outcomes analysis Held-out", flat)
    assert "MISSING for this project:" in flat
    assert re.search(r"Table \d+\. Required items and their status", flat)
    assert re.search(r"Figure \d+\. PSI per feature over batches", flat)


def test_missing_items_follow_the_records(tmp_path: Path) -> None:
    """No fairness evaluation and no card: the map says so; with them, it does not."""
    from reports.requirements import requirements

    def status(records: ProjectRecords, item: str) -> str:
        return next(q.status for q in requirements(records) if q.item == item)

    complete = build_records()
    bare = build_records(card=False, fairness=False)
    assert status(complete, "Fairness and bias evaluated") == "PRESENT"
    assert status(bare, "Fairness and bias evaluated") == "MISSING"
    caveats = "Section “Caveats and recommendations” written or confirmed by a person"
    assert status(complete, caveats) == "PRESENT"
    assert status(bare, caveats) == "MISSING"
    text, _ = _text(render_document("compliance", bare, tmp_path / "bare.pdf").path)
    flat = _flat(text)
    assert "MISSING NIST AI RMF MEASURE 2.11 Fairness and bias evaluated" in flat
    assert "MISSING Model card Caveats and recommendations" in flat


def test_machine_drafted_card_sections_are_printed_as_drafts_and_do_not_count(tmp_path: Path) -> None:
    """Regression: a section counted as PRESENT by its character count though only the registry had
    drafted it. A draft is marked DRAFT and is PARTIAL in the map; a draft a person signed is theirs,
    with their key, until the evidence changes under it."""
    from reports.requirements import requirements

    records = build_records()
    metrics = "Section “Metrics” written or confirmed by a person"
    drafted = with_card(records, records.card, drafted=("metrics",))
    outdated = with_card(records, records.card, confirmed=("metrics",),
                         outdated={"metrics": "primary metric roc_auc; sealed test (opened): roc_auc 0.7000"})
    status = {name: next(q for q in requirements(r) if q.item == metrics)
              for name, r in (("drafted", drafted), ("outdated", outdated), ("written", records))}
    assert status["written"].status == "PRESENT"
    assert (status["drafted"].status, status["drafted"].evidence) == (
        "PARTIAL", "machine draft, not confirmed by a person in the card of v1")
    assert status["outdated"].status == "PARTIAL" and "the evidence changed since" in status["outdated"].evidence

    card = build_document("model_card", replace(drafted, kind="model_card"))
    printed = dict(next(b for s in card.sections for b in s.blocks if getattr(b, "title", "") == "Model card of v1")
                   .rows)
    assert printed["Metrics"].startswith("DRAFT, drafted by the registry from its records; no person has confirmed it.")
    text, _ = _text(render_document("compliance", outdated, tmp_path / "outdated.pdf").path)
    flat = _flat(text)
    assert "Confirmed by ana, key " in flat and "but the registry's evidence changed since; it would now draft: " \
        "primary metric roc_auc; sealed test (opened): roc_auc 0.7000" in flat


def test_every_page_carries_project_version_and_audit_head(hostile_pdfs: dict[str, tuple[str, int]]) -> None:
    records = build_records()
    head = f"audit head {records.audit_head_seq} {records.audit_head_hash[:16]}"
    for kind, (text, pages) in hostile_pdfs.items():
        assert len(re.findall(r"Page \d+ of \d+", text)) == pages, kind
        assert text.count(head) == pages, f"{kind}: audit head missing from a footer"
        assert text.count("credit-risk · model v1") >= pages, f"{kind}: project or version missing from a page"


def test_problem_statement_fits_one_page_and_a_very_long_field_flows_on(tmp_path: Path) -> None:
    records = with_kind(build_records(), "problem_statement")
    _, pages = _text(render_document("problem_statement", records, tmp_path / "short.pdf").path)
    assert pages == 1

    essay = " ".join(f"word{i}" for i in range(2_900)) + " THE-END"  # ~20,000 characters
    assert len(essay) >= 20_000
    long = replace(records, statement={**records.statement, "objective": essay})
    text, pages = _text(render_document("problem_statement", long, tmp_path / "long.pdf").path)
    assert pages > 1
    assert "THE-END" in text and "word2899" in text and "word0 word1" in _flat(text)


def test_20000_character_fields_split_across_pages_in_prose_and_in_table_cells(tmp_path: Path) -> None:
    records = build_records()
    essay = "\n".join(f"Paragraph {i}: " + "the caveat is stated at length " * 30 for i in range(22)) + " THE-END"
    assert len(essay) >= 20_000
    data = replace(with_card(records, {**records.card, "caveats": essay}), kind="model_card")
    text, pages = _text(render_document("model_card", data, tmp_path / "card.pdf").path)
    assert "THE-END" in text and "Paragraph 21:" in text
    assert pages >= 3

    # A reviewer's comment longer than a page, with one 5,000-character "word", in a table cell.
    comment = essay + " " + "x" * 5_000 + " LAST-WORD"
    model = records.models[0]
    approval = replace(model.approvals[0], comment=comment)
    data = replace(records, kind="validation", models=(replace(model, approvals=(approval,)),))
    text, pages = _text(render_document("validation", data, tmp_path / "validation.pdf").path)
    assert text.count("LAST-WORD") == 1 and "Paragraph 21:" in text
    assert pages >= 5


def test_same_records_give_the_same_bytes_and_different_records_differ(tmp_path: Path) -> None:
    records = build_records()
    first = render_document("compliance", records, tmp_path / "a.pdf")
    second = render_document("compliance", build_records(), tmp_path / "b.pdf")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256
    changed = render_document("compliance", with_card(records, {**records.card, "caveats": "changed"}),
                              tmp_path / "c.pdf")
    assert changed.sha256 != first.sha256


def test_deterministic_flag_decides_the_printed_build_time(tmp_path: Path) -> None:
    fixed = build_records(deterministic=True)
    live = build_records(deterministic=False)
    assert fixed.stamp.built_at == "deterministic build"
    text, _ = _text(render_document("problem_statement", with_kind(fixed, "problem_statement"),
                                    tmp_path / "f.pdf").path)
    assert "deterministic build" in text
    text, _ = _text(render_document("problem_statement", with_kind(live, "problem_statement"),
                                    tmp_path / "l.pdf").path)
    assert "built 2026-03-01 12:00:00 UTC" in text and "deterministic build" not in text


@pytest.mark.long
def test_a_report_of_more_than_100_pages_renders(tmp_path: Path) -> None:
    """Many batches and runs: long tables split, headers repeat, nothing overflows (timed in bench/)."""
    records = build_records(batches=200, runs=60, events=3_000)
    result = render_document("compliance", records, tmp_path / "big.pdf")
    assert result.pages >= 100
    reader = pypdf.PdfReader(str(result.path))
    last = reader.pages[-1].extract_text()
    assert f"Page {result.pages} of {result.pages}" in last
    drift_pages = [p.extract_text() for p in reader.pages if "2026-17-08" in p.extract_text()]
    assert drift_pages, "the last batch is missing"


def test_render_document_refuses_data_of_another_kind(tmp_path: Path) -> None:
    records = build_records()
    with pytest.raises(ValueError, match="not 'drift'"):
        render_document("drift", records, tmp_path / "x.pdf")
    with pytest.raises(ValueError, match="unknown document"):
        render_document("poster", records, tmp_path / "x.pdf")
    assert not list(tmp_path.iterdir())


def test_documents_are_built_from_records_without_rendering() -> None:
    records = build_records()
    for kind in DOCUMENTS:
        document = build_document(kind, with_kind(records, kind))
        assert isinstance(document, DocumentData) and document.kind == kind
        assert document.stamp == records.stamp


def test_report_rungs_are_the_ladders() -> None:
    """reports.evidence places a run on the ladder by its kind's rung, without importing sklearn."""
    from app.ml.catalogue import LADDER
    from reports.evidence import rung

    candidate = next(r for r in build_records().runs if not r.is_baseline)
    assert {m.kind: rung(replace(candidate, model_kind=m.kind)) for m in LADDER} == {m.kind: m.rung for m in LADDER}


def test_a_new_project_gets_every_document_with_its_gaps_stated(wb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Stage 1, nothing recorded yet: the documents render and say what is missing."""
    import pickle

    from app.errors import WorkbenchError
    from app.services import projects, reporting

    projects.create_project(wb, "fresh-start", problem_type="binary_classification", maturity="enterprise")
    for kind in ("compliance", "problem_statement", "model_card", "validation"):
        records = reporting.COLLECTORS[kind](wb, "fresh-start", deterministic=True)
        assert pickle.loads(pickle.dumps(records)) == records  # it travels to a worker process
        text, _ = _text(render_document(kind, records, tmp_path / f"{kind}.pdf").path)
        flat = _flat(text)
        assert "fresh-start · model none" in flat
        if kind == "compliance":
            assert "MISSING SR 11-7 Validation Independent review and approval (four-eyes)" in flat
            assert "no model version registered" in flat and "No audit events" not in flat
        if kind == "model_card":
            assert "has no registered model version" in flat
    with pytest.raises(WorkbenchError, match="no monitoring batches yet"):
        reporting.collect_drift_report(wb, "fresh-start")
