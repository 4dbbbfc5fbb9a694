"""A model card on its own: one version's card, its metrics, where it came from, who let it in.

The sections of Mitchell et al. ("Model Cards for Model Reporting") verbatim as written, a
MISSING marker for each unwritten one, then the version's metrics (train, validation,
cross-validation, sealed test), its lineage (run, dataset fingerprint, split, retraining
trigger) and the decisions and release checks that apply to it.
"""

from __future__ import annotations

from reports.data import DocumentData, ProjectRecords, Prose, Section
from reports import evidence as ev


def model_card_document(records: ProjectRecords) -> DocumentData:
    r = records
    label = ev.version_label(r)
    if ev.version_view(r) is None:
        sections: tuple[Section, ...] = (Section("Model card", (
            Prose(f"Project {r.summary.slug} has no registered model version, so there is no model card to print. "
                  "Register a run's model first.", "empty"),)),)
    else:
        card = ev.card_facts(r)
        counted = sum(s.counts for s in r.card_sections)
        sections = (
            Section(f"Card of {label}", (Prose(f"{ev.describe_version(r)}. {counted} of {len(r.card_sections)} "
                                               "sections written or confirmed by a person; MISSING marks a section "
                                               "nobody has written, DRAFT the registry's draft no person has "
                                               "confirmed."),
                                         card)),
            Section("Metrics", (ev.version_metrics_table(r),)),
            Section("Lineage", (ev.version_facts(r),)),
            Section("Decisions and release checks", (ev.four_eyes_facts(r), ev.promotion_table(r),
                                                     ev.promotions_table(r), ev.signers_table(r))),
        )
    return DocumentData("model_card", "Model card", ev.stamp(r), sections, chapter_breaks=False,
                        summary="Printed from the workbench registry; each section of the card is shown as it reads, with "
                                "who wrote or confirmed it.")
