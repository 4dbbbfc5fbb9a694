"""Synthetic project records for document tests: no database, any size, any text.

``build_records(...)`` builds a frozen :class:`ProjectRecords` the way the collectors would from
a real workspace (the same service view dataclasses), so every document can be rendered from
data a test controls: hostile user text in every field, or hundreds of batches and runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from app.audit import ChainHead, ChainVerdict
from app.services.audit_trail import EventView
from app.services.comparison import ComparisonView
from app.services.datasets import DatasetVersionView, SplitView
from app.services.gates import CheckResult, StageGate
from app.services.identity import PersonView
from app.services.monitoring_alerts import AlertView
from app.services.monitoring_batches import BatchView, DriftResultView
from app.services.monitoring_policy import SlaRuleView
from app.services.projects import ProjectSummary
from app.services.promotion import PromotionGate, TransitionView, WaiverView
from app.services.registry import ApprovalView, CardSection, ModelVersionView, ReviewRequestView
from app.services.release_analysis import ReleaseAnalysisView
from app.services.retraining import TriggerView
from app.services.training import RunView
from app.lifecycle import CHECKS, ML_CHECKLIST, MODEL_CARD_SECTIONS, STAGES, STATEMENT_FIELDS
from reports.data import ProjectRecords

T0 = datetime(2026, 1, 5, 9, 30)
FEATURES = ("income", "age", "utilisation_ratio", "months_since_delinquency", "region", "channel")


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


#: The registered keys of the synthetic workspace: the author's and the validator's.
ANA_KEY, GRACE_KEY = _hash("ana's public key"), _hash("grace's public key")
#: The sections the registry drafts from evidence (``registry._draft_sections``).
DRAFTABLE = ("model_details", "metrics", "evaluation_data", "training_data", "quantitative_analyses")


def card_sections(card: dict[str, str], *, drafted: tuple[str, ...] = (), confirmed: tuple[str, ...] = (),
                  by: str = "ana", outdated: dict[str, str] | None = None) -> tuple[CardSection, ...]:
    """The card's sections as ``registry.card_view`` returns them: written by ``by`` unless named
    as a machine ``drafted`` section or one ``confirmed`` with ana's key (``outdated``: the
    registry's current draft of a confirmed section that changed since)."""
    out = []
    for key, label in MODEL_CARD_SECTIONS:
        text = str(card.get(key) or "")
        if not text:
            out.append(CardSection(key, label, "", "missing"))
        elif key in drafted:
            out.append(CardSection(key, label, text, "draft", "the registry (machine draft)"))
        elif key in confirmed:
            out.append(CardSection(key, label, text, "confirmed", by, T0 + timedelta(hours=34), ANA_KEY,
                                   (outdated or {}).get(key, "")))
        else:
            out.append(CardSection(key, label, text, "person", by, T0 + timedelta(hours=34)))
    return tuple(out)


def with_card(records: ProjectRecords, card: dict[str, str], **origins: Any) -> ProjectRecords:
    """``records`` with another card text (and its sections' origins, see ``card_sections``)."""
    return replace(records, card=card, card_sections=card_sections(card, **origins))


def build_records(*, text: str = "", batches: int = 3, runs: int = 4, events: int = 40, kind: str = "compliance",
                  deterministic: bool = True, card: bool = True, fairness: bool = True) -> ProjectRecords:
    """A growth-profile binary classifier at stage 6 with ``batches`` monitoring batches.

    ``text`` is appended to every free-text field a user can write (statement, framing, card,
    comments, reasons, names), so a test can check each one comes out verbatim.
    """
    u = (lambda value: f"{value} {text}".strip())  # noqa: E731 - user-written text
    when = (lambda i: T0 + timedelta(hours=i))  # noqa: E731
    summary = ProjectSummary(slug="credit-risk", name=u("Credit risk"), problem_type="binary_classification",
                             maturity="growth", current_stage=6, stage_title="Monitoring", gate_passed=True,
                             checks_passed=3, checks_total=3)
    gates = tuple(StageGate(s.number, s.title, True, tuple(
        CheckResult(c.id, c.label, c.id != "sla_defined", c.required("growth"), u("evidence"))
        for c in CHECKS if c.stage == s.number)) for s in STAGES)
    statement = {key: u(f"{label} as written") for key, label in STATEMENT_FIELDS}
    statement["ml_metric_threshold"] = "0.7"
    checklist: dict[str, Any] = {key: True for key, _ in ML_CHECKLIST}
    checklist["notes"] = u("checklist notes")
    framing = {"target": u("default"), "label_strategy": u("90 days past due"), "cold_start": u("rules"),
               "temporal_aspects": u("monthly"), "proxy_metrics": u("none"),
               "features": [{"name": f, "type": "numeric", "source": u("bureau"), "available_at_serving": True,
                             "pii": f == "age"} for f in FEATURES]}
    datasets = (DatasetVersionView(id=1, role="training", source_name=u("loans.csv"), file_format="csv",
                                   sha256=_hash("loans"), n_rows=50_000, n_columns=len(FEATURES) + 1,
                                   target="default", schema={f: "numeric" for f in FEATURES}, profile={},
                                   created_at=when(0), created_by=u("ana"),
                                   quality=({"check": "outliers", "column": "income", "severity": "warning",
                                             "detail": u("12 outliers")},)),)
    splits = (SplitView(id=1, dataset_version_id=1, strategy="temporal", seed=7,
                        fractions={"train": 0.7, "validation": 0.15, "test": 0.15},
                        counts={"train": 35_000, "validation": 7_500, "test": 7_500, "train_test_overlap": 0},
                        fingerprint=_hash("split"), created_at=when(1)),)
    kinds = ("majority_baseline", "logistic_regression", "decision_tree", "hist_gradient_boosting", "random_forest")
    run_views = tuple(RunView(
        id=i, experiment="default", model_kind=kinds[i - 1] if i <= len(kinds) else kinds[3 + i % 2],
        is_baseline=i == 1, seed=i, params={"features": list(FEATURES)},
        metrics={"val_roc_auc": 0.6 + 0.3 * i / (runs + 1), "train_roc_auc": 0.65 + 0.3 * i / (runs + 1),
                 "val_accuracy": 0.8}, environment={"sklearn": "1.9"}, dataset_version_id=1, split_id=1,
        artifact_sha256=_hash(f"run{i}"), duration_s=1.5 * i, created_at=when(2 + i), created_by=u("ana"),
        cv_metrics={"roc_auc": {"mean": 0.7, "std": 0.01, "folds": [0.69, 0.7, 0.71]}} if i == 2 else {},
        tuning={"trials": 20, "best_params": {"max_depth": 4}} if i == 3 else {}, test_metrics={})
        for i in range(1, runs + 1))
    chosen = run_views[-1].id
    comparisons = (ComparisonView(id=1, run_a=1, run_b=chosen, test="mcnemar+paired_bootstrap", metric="roc_auc",
                                  difference=0.12, ci=(0.05, 0.2), p_value=0.001, alpha=0.05, significant=True,
                                  data_part="validation", created_at=when(30), created_by=u("ana")),)
    approvals = (ApprovalView(1, u("ana"), u("grace"), "approved", u("approved after review"), when(40), GRACE_KEY),)
    models = (ModelVersionView(id=1, version=1, run_id=chosen, model_kind=run_views[-1].model_kind, stage="production",
                               alias="champion", artifact_sha256=_hash("model"), metrics=dict(run_views[-1].metrics),
                               created_by=u("ana"), created_at=when(35), approvals=approvals, has_card=card,
                               author_fingerprint=ANA_KEY),)
    people = (PersonView(u("ana"), "admin", ANA_KEY, "00" * 32, "ana", when(0)),
              PersonView(u("grace"), "validator", GRACE_KEY, "11" * 32, u("ana"), when(0)))
    card_text = {key: u(f"{label} text") for key, label in MODEL_CARD_SECTIONS} if card else {}
    release_checks = (
        CheckResult("independent_approval", "Approved by someone other than its author (four-eyes)", True,
                    True, u("approved by grace"), waivable=False),
        CheckResult("model_card_complete", "Every model card section is written", card, True,
                    "complete" if card else "missing", waivable=True),
        CheckResult("significant_over_baseline", "Beats a baseline significantly", True, True, "p=0.001",
                    waivable=True),
        CheckResult("shadow_passed", "A shadow analysis against production passed", True, False,
                    "shadow passed", waivable=True),
        CheckResult("canary_passed", "A canary passed its guardrails", False, False,
                    "no canary analysis recorded for this version", waivable=True, waiver=u("not needed for growth")),
        CheckResult("monitoring_configured", "SLA rules or drift thresholds are configured", True, False,
                    "2 SLA rule(s)", waivable=True),
    )
    batch_views = []
    alerts = []
    triggers = []
    for b in range(batches):
        label = f"2026-{b // 12 + 1:02d}-{b % 12 + 1:02d}"
        psi = [0.02 + 0.4 * ((b * 7 + j * 3) % 10) / 10 for j in range(len(FEATURES))]
        drift = tuple(DriftResultView(f, "numeric", "feature", u(f"psi {p:.3f}") if p > 0.25 else "", ks=0.05 + p / 4,
                                      ks_pvalue=0.01, psi=p, chi2=None, chi2_pvalue=None, js=p / 2, drifted=p > 0.25)
                      for f, p in zip(FEATURES, psi))
        drift += (DriftResultView("__prediction__", "numeric", "prediction", "", ks=0.02, ks_pvalue=0.5, psi=0.01,
                                  chi2=None, chi2_pvalue=None, js=0.01, drifted=False),)
        batch_views.append(BatchView(
            id=b + 1, label=label, source="file", n_rows=5_000, n_labelled=5_000 if b % 4 else 0, analysed=True,
            model_version=1, drift=drift, max_psi=max(psi),
            metrics={"roc_auc": 0.75 - 0.002 * b, "false_positive_rate": 0.1} if b % 4 else {},
            sla={"roc_auc >= 0.7": {"passed": (0.75 - 0.002 * b) >= 0.7 if b % 4 else None, "rule": 1,
                                    "severity": "critical", "value": 0.75 - 0.002 * b if b % 4 else None,
                                    **({} if b % 4 else {"note": "not measured yet"})}},
            created_at=when(50 + b)))
        if max(psi) > 0.25:
            alerts.append(AlertView(id=len(alerts) + 1, batch=label, rule="drift", severity="critical",
                                    feature=FEATURES[0], value=max(psi), message=u(f"data drift in batch {label}"),
                                    status="resolved" if b % 2 else "open", trigger_id=len(triggers) + 1,
                                    created_at=when(50 + b)))
            triggers.append(TriggerView(id=len(triggers) + 1, kind="automatic", reason=u("PSI above 0.25"),
                                        status="answered", batch=label, alert_id=len(alerts), dataset_version_id=1,
                                        job_id=b + 10, run_id=chosen, requested_by=u("ana"),
                                        created_at=when(50 + b)))
    event_views = tuple(EventView(seq=n, ts=when(n).isoformat(), actor=u("ana"),
                                  action=("model.approved", "job.queued", "dataset.imported", "stage.advanced")[n % 4],
                                  entity=f"thing {n}", project="credit-risk", summary=u(f"change {n}"),
                                  hash=_hash(f"event{n}"), payload=(("comment", u(f"change {n}")), ("n", str(n))))
                        for n in range(events, 0, -1))
    head = ChainHead(events, _hash(f"event{events}"))
    return ProjectRecords(
        kind=kind, built_at="deterministic build" if deterministic else "2026-03-01 12:00:00 UTC",
        built_by=u("auditor"), deterministic=deterministic, summary=summary, statement=statement,
        checklist=checklist, framing=framing, gates=gates, datasets=datasets, splits=splits, runs=run_views,
        comparisons=comparisons, models=models, version=1, card=card_text,
        card_sections=card_sections(card_text, confirmed=("training_data",), by=u("ana")), people=people,
        promotion=PromotionGate(1, "growth", release_checks),
        review_requests=(ReviewRequestView(1, 1, u("ana"), u("grace"), u("please review"), "approved", when(36)),),
        transitions=(TransitionView(1, "none", "production", u("ana"), u("approved"), when(41), ANA_KEY,
                                    ("monitoring_configured",)),),
        waivers=(WaiverView(1, "canary_passed", u("not needed for growth"), u("grace"), when(39), GRACE_KEY),),
        release_analyses=(ReleaseAnalysisView(1, "shadow", 1, None, "passed", u("go"),
                                              {"agreement_rate": 0.97, "n": 300, "shadow_latency": {"p99_ms": 3.0}},
                                              u("ana"), when(38)),),
        batches=tuple(batch_views), alerts=tuple(alerts), triggers=tuple(triggers),
        sla_rules=(SlaRuleView(1, "roc_auc", ">=", 0.7, "critical"),),
        error_analysis={"rows": 7_500, "confusion": {"labels": [0, 1], "matrix": [[6000, 300], [400, 800]]},
                        "segments": {"region": [{"segment": u("north"), "rows": 3000, "roc_auc": 0.8}]},
                        **({"fairness": {"attribute": "age", "demographic_parity_difference": 0.05,
                                         "equalized_odds_difference": 0.07,
                                         "groups": [{"group": u("under 30"), "rows": 2000, "selection_rate": 0.2,
                                                     "tpr": 0.7, "fpr": 0.1}]}} if fairness else {})},
        lineage=None, audit_head_seq=head.seq, audit_head_hash=head.hash, audit_event_count=events,
        batch_labels=tuple(b.label for b in batch_views) if kind == "drift" else (),
        events=event_views, chain=ChainVerdict(True, events, head),
    )


def with_kind(records: ProjectRecords, kind: str) -> ProjectRecords:
    labels = tuple(b.label for b in records.batches) if kind == "drift" else ()
    return replace(records, kind=kind, batch_labels=labels)
