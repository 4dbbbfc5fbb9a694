"""Collecting what each document shows into frozen records: the renderers never query.

``COLLECTORS[kind]`` gives the :class:`~reports.data.ProjectRecords` of each printable
document: the compliance report, the problem statement, a model card, a drift report and a
validation report; ``collect_project`` the same records for the project screen, which shows
the documents' tables (``reports.stages``).

Every collector reads the audit head before and after collecting; if another writer changed
the registry in between, collection starts again, so the head printed in a document is the
state the document describes. The documents that print the trail verify the chain here by
default; a report build passes ``verify_chain=False`` and has its worker do it through the
collected head (``app.audit.ChainCheck``). With ``deterministic=True`` the build time is printed
as a fixed text, so two builds from the same records give byte-identical PDFs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from app.errors import NotFound, WorkbenchError
from app.services import (
    audit_trail, comparison, datasets, deliverables, error_analysis, gates, monitoring_alerts, monitoring_batches,
    monitoring_policy, people, projects, promotion, registry, release_analysis, retraining, training,
)
from app.services.findings import list_findings
from app.services.workbench import Workbench
from reports.data import DETERMINISTIC_BUILD, ProjectRecords

ATTEMPTS = 3
T = TypeVar("T")


def _built_at(deterministic: bool) -> str:
    return DETERMINISTIC_BUILD if deterministic else datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _consistent(wb: Workbench, collect: Callable[[], T], head_of: Callable[[T], tuple[int, str]]) -> T:
    """Run ``collect`` until the audit head did not move while it ran."""
    for _ in range(ATTEMPTS):
        before, _count = audit_trail.head(wb)
        data = collect()
        if before is None or head_of(data) == (before.seq, before.hash):
            return data
    raise WorkbenchError("the registry kept changing while the report was collected: try again when jobs finish")


# ---------------------------------------------------------------------------- records


def _chosen_version(slug: str, models: list, version: int | None) -> int | None:  # type: ignore[type-arg]
    """The version asked for; else the one in production; else the latest registered; else None."""
    if version is not None:
        if not any(m.version == version for m in models):
            raise NotFound(f"project '{slug}' has no model version {version}: list them with `mlwb models {slug}`")
        return version
    production = [m.version for m in models if m.stage == "production"]
    if production:
        return production[-1]
    return models[-1].version if models else None


def _batch_range(slug: str, batches: list, scope: Sequence[str] | None) -> tuple[str, ...]:  # type: ignore[type-arg]
    """The labels a drift report covers: every batch (no scope), one batch, or FIRST..LAST."""
    labels = [b.label for b in batches]
    if not labels:
        raise WorkbenchError(f"project '{slug}' has no monitoring batches yet: import one with `mlwb monitor import`")
    chosen = tuple(scope or ())
    if len(chosen) > 2:
        raise WorkbenchError(f"give one batch or a first and last batch, not {len(chosen)}")
    for label in chosen:
        if label not in labels:
            raise NotFound(f"project '{slug}' has no monitoring batch '{label}': choose one of {', '.join(labels)}")
    if not chosen:
        return tuple(labels)
    start, end = labels.index(chosen[0]), labels.index(chosen[-1])
    if end < start:
        raise WorkbenchError(f"batch '{chosen[-1]}' arrived before '{chosen[0]}': name the earlier batch first")
    return tuple(labels[start: end + 1])


def _gather(wb: Workbench, slug: str, kind: str, *, version: int | None = None, deterministic: bool = False,
            audit_log: bool = False, verify_chain: bool = True,
            batches: Sequence[str] | None = None) -> ProjectRecords:
    """One read of everything a document may show, through the services the screens use.

    ``audit_log``: the document prints the trail, so every event of the project (and the
    registrations of the keys its events name: its signers and authors) is read with its payload,
    and (with ``verify_chain``) the chain is verified and its evidence digest computed here;
    without it they are left for the worker that renders (``app.audit.ChainCheck``)."""
    summary = projects.project_summary(wb, slug)
    docs = deliverables.deliverables(wb, slug)
    models = registry.list_models(wb, slug)
    chosen = _chosen_version(slug, models, version)
    view = next((m for m in models if m.version == chosen), None)
    all_batches = monitoring_batches.list_batches(wb, slug)
    labels = _batch_range(slug, all_batches, batches) if kind == "drift" else ()
    runs = training.list_runs(wb, slug)
    events: tuple = ()
    chain, digest = None, ""
    if audit_log:
        events = tuple(reversed(audit_trail.project_events(wb, slug)))  # newest first
    if audit_log and verify_chain:
        chain, digest = audit_trail.verify_with_digest(wb)
    card = registry.model_card_view(wb, slug, chosen) if chosen is not None else None
    head, count = audit_trail.head(wb)
    return ProjectRecords(
        kind=kind, built_at=_built_at(deterministic), built_by=wb.actor, deterministic=deterministic,
        summary=summary, statement=dict(docs["problem_statement"]), checklist=dict(docs["ml_checklist"]),
        framing=dict(docs["framing"]), gates=tuple(gates.all_gates(wb, slug)),
        datasets=tuple(datasets.list_datasets(wb, slug)), splits=tuple(datasets.list_splits(wb, slug)),
        runs=tuple(runs), comparisons=tuple(comparison.list_comparisons(wb, slug)), models=tuple(models),
        version=chosen, card=card.content if card else {}, card_sections=card.sections if card else (),
        people=tuple(people.list_people(wb)),
        promotion=promotion.promotion_gate(wb, slug, chosen) if chosen is not None else None,
        review_requests=tuple(registry.review_requests(wb, slug)), transitions=tuple(promotion.transitions(wb, slug)),
        waivers=tuple(promotion.waivers(wb, slug)),
        release_analyses=tuple(release_analysis.list_release_analyses(wb, slug)),
        batches=tuple(all_batches), alerts=tuple(monitoring_alerts.list_alerts(wb, slug)),
        triggers=tuple(retraining.list_triggers(wb, slug)), sla_rules=tuple(monitoring_policy.sla_rules(wb, slug)),
        error_analysis=error_analysis.latest_analysis(wb, slug, view.run_id) if view else None,
        lineage=retraining.lineage_of_run(wb, view.run_id) if view else None,
        audit_head_seq=head.seq if head else 0, audit_head_hash=head.hash if head else "0" * 64,
        audit_event_count=count, batch_labels=labels, events=events, chain=chain,
        evidence_digest=digest, tracked_findings=tuple(list_findings(wb, slug)),
    )


def _records(wb: Workbench, slug: str, kind: str, **options: object) -> ProjectRecords:
    return _consistent(wb, lambda: _gather(wb, slug, kind, **options),  # type: ignore[arg-type]
                       lambda r: (r.audit_head_seq, r.audit_head_hash))


def collect_project(wb: Workbench, slug: str) -> ProjectRecords:
    """Records for the project screen: what the compliance report covers (the production
    version, else the latest), without the audit trail's events (the screen does not list them)."""
    return _records(wb, slug, "project")


def collect_compliance_report(wb: Workbench, slug: str, *, version: int | None = None,
                              deterministic: bool = False, verify_chain: bool = True) -> ProjectRecords:
    """Records for the compliance report of ``version`` (default: the production version);
    ``verify_chain=False`` leaves the chain's verification to the rendering worker."""
    return _records(wb, slug, "compliance", version=version, deterministic=deterministic, audit_log=True,
                    verify_chain=verify_chain)


def collect_problem_statement(wb: Workbench, slug: str, *, deterministic: bool = False) -> ProjectRecords:
    """Records for the one-page stage 1 deliverable."""
    return _records(wb, slug, "problem_statement", deterministic=deterministic)


def collect_model_card(wb: Workbench, slug: str, *, version: int | None = None,
                       deterministic: bool = False) -> ProjectRecords:
    """Records for one version's model card with its metrics and lineage."""
    return _records(wb, slug, "model_card", version=version, deterministic=deterministic)


def collect_drift_report(wb: Workbench, slug: str, *, batches: Sequence[str] | None = None,
                         deterministic: bool = False) -> ProjectRecords:
    """Records for the drift report of ``batches``: one label, or the first and last label of
    a range in arrival order; none (the default) covers every batch."""
    return _records(wb, slug, "drift", batches=batches, deterministic=deterministic)


def collect_validation_report(wb: Workbench, slug: str, *, version: int | None = None,
                              deterministic: bool = False, verify_chain: bool = True) -> ProjectRecords:
    """Records for the validation report a reviewer signs for ``version`` (default: production);
    ``verify_chain=False`` leaves the chain's verification to the rendering worker."""
    return _records(wb, slug, "validation", version=version, deterministic=deterministic, audit_log=True,
                    verify_chain=verify_chain)


#: kind -> collector; every collector takes (wb, slug) and keyword options, always ``deterministic``;
#: those of documents that print the audit trail also ``verify_chain``.
COLLECTORS: dict[str, Callable[..., ProjectRecords]] = {
    "compliance": collect_compliance_report,
    "problem_statement": collect_problem_statement,
    "model_card": collect_model_card,
    "drift": collect_drift_report,
    "validation": collect_validation_report,
}
