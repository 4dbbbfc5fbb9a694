"""The drift report: one monitoring batch, or a range of batches, checked against the reference.

Per batch: what arrived, the per-feature statistics (KS, PSI, chi-square, Jensen–Shannon; the normed
Wasserstein distance appears in the verdict's reasons) with
their verdicts, a PSI chart, the SLA results and the alerts it raised. Over a range: maximum
PSI per batch, PSI per feature and performance over the batches.
"""

from __future__ import annotations

from app.ml.drift_bands import PSI_ALERT_THRESHOLD
from reports import evidence as ev
from reports.data import DocumentData, Facts, ProjectRecords, Prose, Section


def _batch_section(records: ProjectRecords, batch: object) -> Section:
    b = batch  # a BatchView
    verdict = (f"DRIFT in {len(b.drifted_features)} feature(s): {', '.join(b.drifted_features)}" if b.drifted_features
               else ("no feature drifted" if b.analysed else "not analysed yet"))
    facts = Facts((
        ("Batch", f"{b.label} ({b.source}), imported {ev.when(b.created_at)}"),
        ("Rows", f"{b.n_rows:,} ({b.n_labelled:,} labelled)"),
        ("Scored by", f"model v{b.model_version}" if b.model_version else "—"),
        ("Measured against", b.reference.removeprefix("reference: ") or "—"),
        ("Maximum PSI", ev.num(b.max_psi, 3)),
        ("Verdict", verdict),
        ("Metrics on labelled rows",
         ", ".join(f"{k} {v:.4f}" for k, v in sorted(b.metrics.items())) or "no labels yet"),
    ))
    blocks: list = [facts]
    if b.analysed:
        blocks += [ev.drift_rows_table([b], f"Statistics per feature — batch {b.label}"), ev.batch_psi_chart(b)]
    else:
        blocks.append(Prose(f"Batch {b.label} has not been analysed: run `mlwb monitor analyse` first.", "empty"))
    blocks += [ev.sla_results_table([b]), ev.alerts_table(records, [b])]
    return Section(f"Batch {b.label}", tuple(blocks))


def drift_document(records: ProjectRecords) -> DocumentData:
    r = records
    batches = ev.batches_in(r)
    labels = [b.label for b in batches]
    scope = f"batch {labels[0]}" if len(labels) == 1 else f"batches {labels[0]} to {labels[-1]}"
    drifted = [b for b in batches if b.drifted_features]
    summary = Section(f"Summary of {scope}", (
        Prose(f"{len(batches)} batch(es); {len(drifted)} with drift; PSI above {PSI_ALERT_THRESHOLD} on an important "
              "feature raises a critical alert and a retraining trigger.", "lead"),
        ev.batches_table(r, batches),
        *((ev.max_psi_chart(batches), ev.feature_psi_chart(batches), ev.performance_chart(r, batches))
          if len(batches) > 1 else ()),
        ev.triggers_table(r, batches),
    ))
    version = ev.version_label(r)
    return DocumentData(
        "drift", "Drift report", ev.stamp(r), (summary, *(_batch_section(r, b) for b in batches)),
        chapter_breaks=len(batches) > 1,
        summary=f"Drift of {scope} against the training reference of the model that scored each batch "
                f"(the production model is {version}).")
