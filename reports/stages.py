"""The project screen's six stage chapters, from the records the documents are built from.

Per lifecycle stage the project screen shows the risk it guards against, its gate, a short
list of its deliverables and its evidence. Every evidence table comes from the function in
:mod:`reports.evidence` that the compliance report prints it with, so the screen and the PDF
cannot drift apart (they once did: "ok" on one, "OK" on the other). No reportlab: cheap to
import, and safe to call in a screen's worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.lifecycle import FRAMING_FIELDS, ML_CHECKLIST, STAGES, STATEMENT_FIELDS
from reports import evidence as ev
from reports.data import Facts, ProjectRecords, TableData

if TYPE_CHECKING:  # pragma: no cover - the gate view is only named here
    from app.services.gates import StageGate


@dataclass(frozen=True)
class StageChapter:
    """One stage as the project screen shows it: ``deliverables`` are (label, value) pairs."""

    number: int
    title: str
    risk: str
    gate: StageGate
    deliverables: tuple[tuple[str, str], ...]
    evidence: tuple[TableData | Facts, ...]


def _deliverables(r: ProjectRecords) -> dict[int, tuple[tuple[str, str], ...]]:
    """What each stage has produced, in a line each (the whole text is in the forms and PDFs)."""
    checklist = r.checklist
    return {
        1: tuple((label, r.statement.get(key, "—")) for key, label in STATEMENT_FIELDS)
        + tuple((label, ev.yes_no(checklist.get(key))) for key, label in ML_CHECKLIST)
        + ((("Checklist notes", checklist["notes"]),) if checklist.get("notes") else ()),
        2: tuple((label, r.framing.get(key, "—")) for key, label in FRAMING_FIELDS),
        3: (("Dataset versions", str(len(r.datasets))), ("Splits", str(len(r.splits)))),
        4: (("Runs", str(len(r.runs))), ("Baseline runs", str(sum(run.is_baseline for run in r.runs)))),
        5: (("Model versions", str(len(r.models))),
            ("In production", ", ".join(f"v{m.version}" for m in r.models if m.stage == "production") or "none")),
        6: (("Monitoring batches", str(len(r.batches))), ("Alerts", str(len(r.alerts)))),
    }


def _evidence(r: ProjectRecords) -> dict[int, tuple[TableData | Facts, ...]]:
    """The tables of each stage, as the compliance report's chapter on it prints them."""
    run = ev.version_run(r)
    analysis = ev.analysis_tables(run.number, r.error_analysis) if run is not None and r.error_analysis else ()
    batches = list(r.batches)
    return {
        2: (ev.features_table(r),),
        3: (ev.datasets_table(r), ev.fingerprints_table(r), ev.quality_table(r), ev.splits_table(r),
            ev.leakage_table(r)),
        4: (ev.ladder_table(r), ev.cv_table(r), ev.tuning_table(r), ev.comparisons_table(r), *analysis[:2],
            *(analysis[2:] if analysis and analysis[2].rows else ()), ev.card_facts(r)),
        5: (ev.models_table(r), ev.promotion_table(r), ev.promotions_table(r), ev.releases_table(r),
            ev.transitions_table(r), ev.approvals_table(r), ev.waivers_table(r), ev.signers_table(r)),
        6: (ev.batches_table(r, batches), ev.drift_rows_table(batches), ev.sla_results_table(batches),
            ev.alerts_table(r), ev.triggers_table(r)),
    }


def stage_chapters(records: ProjectRecords) -> tuple[StageChapter, ...]:
    """The six stages of ``records`` (collected by ``app.services.reporting.collect_project``)."""
    gates = {g.stage: g for g in records.gates}
    deliverables, evidence = _deliverables(records), _evidence(records)
    return tuple(StageChapter(s.number, s.title, s.risk, gates[s.number], deliverables[s.number],
                              evidence.get(s.number, ())) for s in STAGES)
