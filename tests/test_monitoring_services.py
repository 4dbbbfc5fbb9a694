"""Stage 6 on the demo workspace: batches from files and from the prediction log, delayed
labels, drift verdicts, SLA rules, alerts, retraining with lineage, and the Prometheus text."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from app.errors import WorkbenchError
from app.jobs import JobRunner
from app.ml.demo_data import generate_interactions
from app.ml.drift_bands import PSI_ALERT_THRESHOLD
from app.services import (
    audit_trail, monitoring_alerts, monitoring_analysis, monitoring_batches, monitoring_check, monitoring_policy, retraining,
    training,
)
from app.services.demo import FEATURES, SLUG
from app.services.jobs import WorkbenchLedger
from app.services.workbench import Workbench

FEATURE_NAMES = {f["name"] for f in FEATURES}


def test_demo_batches_drift_labels_and_sla(demo_wb: Workbench) -> None:
    batches = {b.label: b for b in monitoring_batches.list_batches(demo_wb, SLUG)}
    assert set(batches) == {"2026-01", "2026-02", "2026-03"}
    log_batch, strong = batches["2026-01"], batches["2026-03"]
    assert log_batch.source == "prediction_log" and log_batch.n_labelled == log_batch.n_rows > 0
    assert "latency_p99_ms" in log_batch.sla or any(k.startswith("latency_p99_ms") for k in log_batch.sla)
    assert strong.n_labelled == strong.n_rows and "roc_auc" in strong.metrics
    assert {r.feature for r in strong.features} == FEATURE_NAMES
    assert {r.subject for r in strong.drift} == {"feature", "prediction", "label"}
    assert strong.max_psi > PSI_ALERT_THRESHOLD and strong.drifted_features
    numeric = next(r for r in strong.features if r.kind == "numeric")
    categorical = next(r for r in strong.features if r.kind == "categorical")
    assert numeric.ks is not None and numeric.chi2_pvalue is None
    assert categorical.chi2_pvalue is not None and categorical.ks is None
    # no-drift traffic of 2026-01 is not called drifted
    assert not log_batch.drifted_features
    series = monitoring_analysis.performance_over_time(demo_wb, SLUG)
    assert [label for label, _ in series["roc_auc"]] == ["2026-01", "2026-02", "2026-03"]


def test_psi_breach_created_a_retraining_run_that_links_back(demo_wb: Workbench) -> None:
    alerts = monitoring_alerts.list_alerts(demo_wb, SLUG)
    critical = [a for a in alerts if a.rule == "drift" and a.severity == "critical"]
    assert critical and critical[-1].batch == "2026-03" and critical[-1].trigger_id is not None
    trigger = next(t for t in retraining.list_triggers(demo_wb, SLUG) if t.id == critical[-1].trigger_id)
    assert trigger.kind == "automatic" and "PSI > 0.25" in trigger.reason
    assert trigger.run_id is not None and trigger.status == "answered" and trigger.job_id is not None
    lineage = retraining.lineage_of_run(demo_wb, trigger.run_id)
    assert lineage is not None and lineage["trigger"] == trigger.id and lineage["alert"] == critical[-1].id
    run = next(r for r in training.list_runs(demo_wb, SLUG) if r.id == trigger.run_id)
    assert run.dataset_version_id == trigger.dataset_version_id
    events = [e for e in audit_trail.recent_events(demo_wb, project=SLUG, limit=500)
              if e.action == "monitoring.retraining_completed"]
    assert events


def test_sla_breach_on_delayed_labels_raises_an_alert_and_trigger(demo_wb: Workbench, tmp_path: Path) -> None:
    runner = JobRunner(WorkbenchLedger(demo_wb))
    rule = monitoring_policy.add_sla_rule(demo_wb, SLUG, "accuracy", ">=", 0.999, severity="critical")
    frame = generate_interactions(600, seed=99)
    frame.insert(0, "row_id", [f"r{i}" for i in range(len(frame))])
    frame.drop(columns=["clicked"]).to_csv(tmp_path / "batch.csv", index=False)
    frame[["row_id", "clicked"]].rename(columns={"row_id": "id"}).to_csv(tmp_path / "labels.csv", index=False)
    monitoring_batches.import_batch(demo_wb, SLUG, tmp_path / "batch.csv", label="2026-04", id_column="row_id")
    batch = monitoring_analysis.analyse_batch(demo_wb, runner, SLUG, "2026-04")
    assert batch.n_labelled == 0 and batch.sla[rule.describe()]["passed"] is None
    with pytest.raises(WorkbenchError, match="no column 'nope'"):
        monitoring_analysis.attach_labels(demo_wb, runner, SLUG, "2026-04", tmp_path / "labels.csv", id_column="nope",
                                 label_column="clicked")
    batch = monitoring_analysis.attach_labels(demo_wb, runner, SLUG, "2026-04", tmp_path / "labels.csv", id_column="id",
                                     label_column="clicked")
    assert batch.n_labelled == 600 and batch.sla[rule.describe()]["passed"] is False
    alert = next(a for a in monitoring_alerts.list_alerts(demo_wb, SLUG) if a.rule == f"sla:{rule.id}")
    assert alert.severity == "critical" and alert.trigger_id is not None
    assert audit_trail.verify(demo_wb).ok


def test_per_feature_threshold_changes_the_verdict(demo_wb: Workbench, tmp_path: Path) -> None:
    frame = generate_interactions(3000, seed=5, drift=0.2)
    path = tmp_path / "batch.csv"
    frame.to_csv(path, index=False)
    before = monitoring_check.drift_file(demo_wb, SLUG, path)["features"]
    drifted = [name for name, stats in before.items() if stats["drifted"] and name in FEATURE_NAMES]
    assert drifted
    for name in drifted:
        for statistic in ("psi", "ks", "js", "wasserstein"):
            monitoring_policy.set_drift_threshold(demo_wb, SLUG, name, statistic, 5.0)
    after = monitoring_check.drift_file(demo_wb, SLUG, path)["features"]
    assert not any(after[name]["drifted"] for name in drifted)
    with pytest.raises(WorkbenchError, match="statistic"):
        monitoring_policy.set_drift_threshold(demo_wb, SLUG, "user_age", "mean", 0.1)


def test_drift_file_json_shape(demo_wb: Workbench, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    generate_interactions(2000, seed=3, drift=0.6).to_csv(path, index=False)
    result = monitoring_check.drift_file(demo_wb, SLUG, path)
    age, genre = result["features"]["user_age"], result["features"]["item_genre"]
    assert set(age) == {"ks", "ks_pvalue", "psi", "js", "wasserstein", "drifted"}
    assert set(genre) == {"psi", "chi2_pvalue", "js", "drifted"}
    assert result["alerts"] and result["alerts"][0]["severity"] == "critical"
    reference = tmp_path / "ref.csv"
    generate_interactions(2000, seed=4).to_csv(reference, index=False)
    against_file = monitoring_check.drift_file(demo_wb, SLUG, path, reference=reference)
    assert against_file["features"]["user_age"]["drifted"]
    pd.read_csv(path).drop(columns=["user_age"]).to_csv(path, index=False)
    with pytest.raises(WorkbenchError, match="user_age"):
        monitoring_check.drift_file(demo_wb, SLUG, path)
    json.dumps(result)


def test_prometheus_exposition(demo_wb: Workbench) -> None:
    text = monitoring_check.prometheus_metrics(demo_wb, SLUG)
    families: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            families[name] = kind
        elif line and not line.startswith("#"):
            name = line.split("{", 1)[0]
            assert name in families, line
            float(line.rsplit(" ", 1)[1])
    assert families["mlwb_feature_psi"] == "gauge"
    assert families["mlwb_retraining_triggers_total"] == "counter"
    assert 'mlwb_prediction_requests_total{project="ctr-demo",route="canary"}' in text


def test_on_demand_retraining_needs_a_reason_and_schedule_runs_when_due(demo_wb: Workbench) -> None:
    with pytest.raises(WorkbenchError, match="why"):
        retraining.request_retraining(demo_wb, SLUG, reason=" ")
    with pytest.raises(WorkbenchError, match="no retraining schedule"):
        retraining.run_due_schedule(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG)
    monitoring_policy.set_retraining_schedule(demo_wb, SLUG, 30)
    outcome = retraining.run_due_schedule(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG)
    assert outcome is not None
    trigger = next(t for t in retraining.list_triggers(demo_wb, SLUG) if t.id == outcome.trigger_id)
    assert trigger.kind == "scheduled" and trigger.run_id == outcome.run_id
    assert retraining.run_due_schedule(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG) is None


def test_alerts_are_resolved_by_retraining_or_with_a_note(demo_wb: Workbench) -> None:
    alerts = {a.batch: a for a in monitoring_alerts.list_alerts(demo_wb, SLUG)}
    assert alerts["2026-03"].status == "resolved"  # its retraining run answered it
    warning = alerts["2026-02"]
    assert warning.status == "open"
    with pytest.raises(WorkbenchError, match="how the alert was handled"):
        monitoring_alerts.resolve_alert(demo_wb, SLUG, warning.id, note=" ")
    assert monitoring_alerts.resolve_alert(demo_wb, SLUG, warning.id, note="watch band only; next batch decides").status \
        == "resolved"
    with pytest.raises(WorkbenchError, match="already resolved"):
        monitoring_alerts.resolve_alert(demo_wb, SLUG, warning.id, note="again")
    assert not [a for a in monitoring_alerts.open_alerts(demo_wb) if a.project == SLUG]


def test_cli_monitor_import_analyses_the_batch_unless_told_not_to(demo_home: Path, tmp_path: Path) -> None:
    """As the TUI's import does: the batch arrives analysed, so the stage-6 gate does not wait
    for a second command; ``--no-analyse`` only stores it."""
    from tests.test_cli import ok

    frame = generate_interactions(400, seed=7)
    frame.drop(columns=["clicked"]).to_csv(tmp_path / "batch.csv", index=False)
    stored = json.loads(ok("monitor", "import", SLUG, str(tmp_path / "batch.csv"), "--label", "2026-05",
                           "--no-analyse", "--json"))
    assert stored["label"] == "2026-05" and stored["analysed"] is False and stored["drift"] == []
    printed = ok("monitor", "import", SLUG, str(tmp_path / "batch.csv"), "--label", "2026-06")
    assert "monitoring batch 2026-06: 400 rows" in printed
    drift_lines = {line.split()[0] for line in printed.splitlines() if line.startswith("  ")}
    assert {f["name"] for f in FEATURES} <= drift_lines
    listed = {b["label"]: b for b in json.loads(ok("monitor", "list", SLUG, "--json"))["batches"]}
    assert listed["2026-06"]["analysed"] is True and listed["2026-05"]["analysed"] is False
