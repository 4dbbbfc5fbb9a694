"""The problem statement: the one-page stage 1 deliverable.

The statement's fields, the "is ML appropriate?" checklist and the stage 1 gate, with the
project, build time and audit head at the top. Compact by design: with statements of normal
length it fits one A4 page; a very long field flows on to the next page rather than being cut.
"""

from __future__ import annotations

from reports import evidence as ev
from reports.data import DocumentData, ProjectRecords, Prose, Section


def problem_statement_document(records: ProjectRecords) -> DocumentData:
    r = records
    fields = ev.statement_facts(r)
    answers = ev.ml_checklist_table(r)
    notes = str(r.checklist.get("notes") or "").strip()
    gate = next((g for g in r.gates if g.stage == 1), None)
    status = ("Stage 1 gate: " + ("PASSED" if gate.passed else "OPEN — " + "; ".join(
        c.label for c in gate.checks if c.required and not c.passed))) if gate else "Stage 1 gate: not evaluated"
    sections = (
        Section("Problem statement", (fields,)),
        Section("Is machine learning the right tool?", (answers,) + ((Prose(f"Notes: {notes}"),) if notes else ())
                + (Prose(status, "lead" if gate and gate.passed else "alert"),)),
    )
    return DocumentData("problem_statement", "Problem statement", ev.stamp(r), sections, chapter_breaks=False)
