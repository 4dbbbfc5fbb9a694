"""Stages 3–4 in depth through the services and the CLI: findings, leakage, the sealed test,
significance against the baseline, reproduction."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.errors import GateFailed
from app.jobs import JobRunner
from app.ml.demo_data import generate_interactions
from app.services import (
    audit_trail,
    comparison,
    datasets,
    deliverables,
    evaluation,
    gates,
    projects,
    registry,
    training,
)
from app.services.demo import FEATURES, FRAMING, STATEMENT
from app.services.jobs import WorkbenchLedger
from app.services.workbench import Workbench

SLUG = "ctr-demo"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)


def _framed_project(wb: Workbench, slug: str, extra_features: list[dict] = ()) -> None:  # type: ignore[assignment]
    projects.create_project(wb, slug, problem_type="binary_classification", maturity="growth")
    deliverables.save_problem_statement(wb, slug, STATEMENT)
    deliverables.save_framing(wb, slug, FRAMING, [*FEATURES, *extra_features])


def test_demo_candidate_beats_the_baseline_significantly(demo_wb: Workbench) -> None:
    comps = comparison.list_comparisons(demo_wb, SLUG)
    runs = {r.id: r for r in training.list_runs(demo_wb, SLUG)}
    wins = [c for c in comps if runs[c.run_a].is_baseline and not runs[c.run_b].is_baseline]
    assert wins and wins[0].significant and wins[0].p_value < 0.05 and wins[0].difference > 0
    assert wins[0].ci[0] > 0  # the whole interval is an improvement
    assert gates.gate(demo_wb, SLUG, 4).passed


def test_every_demo_run_keeps_the_test_set_sealed(demo_wb: Workbench) -> None:
    for run in training.list_runs(demo_wb, SLUG):
        assert not any(k.startswith("test_") for k in run.metrics), run.metrics
        assert not run.test_metrics


def test_a_leaked_feature_is_caught_before_training(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    frame = generate_interactions(3000, seed=3)
    noise = (frame.index % 97 == 0).astype(int)
    frame["clicked_echo"] = (frame["clicked"] ^ noise).astype(int)  # the target with 1% noise
    path = tmp_path / "leaky.csv"
    frame.to_csv(path, index=False)
    _framed_project(wb, "leaky", [{"name": "clicked_echo", "type": "numeric", "source": "post-click log",
                                    "available_at_serving": True, "pii": False}])
    version = datasets.import_dataset(wb, "leaky", path, target="clicked")
    split = datasets.create_split(wb, "leaky", seed=1)
    leaks = [f for f in split.leakage if f["severity"] == "error"]
    assert any(f["check"] == "single_feature_predictive" and f["feature"] == "clicked_echo" for f in leaks)
    head = audit_trail.head(wb)
    with pytest.raises(GateFailed, match="clicked_echo"):
        training.train(wb, runner, "leaky", "logistic_regression", dataset_id=version.id)
    assert audit_trail.head(wb) == head and training.list_runs(wb, "leaky") == []
    assert not {c.id: c for c in gates.gate(wb, "leaky", 3).checks}["no_leakage"].passed


def test_clean_data_has_no_leakage_finding(demo_wb: Workbench) -> None:
    splits = datasets.list_splits(demo_wb, SLUG)  # the first split, and the retraining's
    assert len(splits) == 2
    assert [f for s in splits for f in s.leakage if f["severity"] == "error"] == []


def test_opening_the_test_set_twice_in_an_experiment_is_flagged(demo_wb: Workbench) -> None:
    runner = JobRunner(WorkbenchLedger(demo_wb))
    runs = training.list_runs(demo_wb, SLUG)
    first = evaluation.score_on_test(demo_wb, runner, SLUG, runs[-1].id)
    assert first.looks_in_experiment == 1 and "test_roc_auc" in first.metrics
    events = [e.action for e in audit_trail.recent_events(demo_wb, project=SLUG, limit=5)]
    assert "run.test_scored" in events
    assert {c.id: c for c in gates.gate(demo_wb, SLUG, 4).checks}["test_set_once"].passed
    second = evaluation.score_on_test(demo_wb, runner, SLUG, runs[0].id)
    assert second.looks_in_experiment == 2
    check = {c.id: c for c in gates.gate(demo_wb, SLUG, 4).checks}["test_set_once"]
    assert not check.passed and "2 times" in check.detail


def test_a_run_reproduces_from_its_recorded_inputs(demo_wb: Workbench) -> None:
    run = next(r for r in training.list_runs(demo_wb, SLUG) if r.model_kind == "logistic_regression")
    result = evaluation.reproduce_run(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), None, run.id)
    assert result.matches and result.max_difference <= 1e-9 and result.original == result.reproduced


@pytest.mark.long
def test_cli_contract_for_check_train_and_compare(demo_home: Path) -> None:
    checked = _cli("data", "check", SLUG, "1", "--json")
    assert checked.returncode == 0, checked.stderr
    body = json.loads(checked.stdout)
    assert set(body) >= {"quality", "leakage"}
    for item in body["quality"]:
        assert set(item) >= {"check", "column", "severity", "detail"}
    for item in body["leakage"]:
        assert set(item) >= {"check", "feature", "severity", "evidence"}

    trained = _cli("train", SLUG, "1", "--model", "decision_tree", "--cv", "3", "--json")
    assert trained.returncode == 0, trained.stderr
    run = json.loads(trained.stdout)
    assert "val_roc_auc" in run["validation"] and run["cv"]
    assert "%" in trained.stderr  # progress on stderr

    baseline = next(line.split("\t")[0] for line in _cli("runs", SLUG).stdout.splitlines() if "baseline" in line)
    compared = _cli("compare", SLUG, baseline, str(run["number"]), "--json")
    assert compared.returncode == 0, compared.stderr
    result = json.loads(compared.stdout)
    assert set(result) >= {"test", "p_value", "metric", "difference", "ci", "significant"}
    assert len(result["ci"]) == 2 and isinstance(result["significant"], bool)

    refused = _cli("train", SLUG, "1", "--model", "no_such_model")
    assert refused.returncode == 2 and refused.stderr.startswith("error:") and "Traceback" not in refused.stderr


def test_import_reports_findings_and_keeps_leading_zeros(wb: Workbench, tmp_path: Path) -> None:
    projects.create_project(wb, "zips", problem_type="binary_classification")
    path = tmp_path / "zips.csv"
    path.write_text("zip,city,bought\n01234,Boston,1\n02139,Cambridge,0\n10001,New York,1\n00501,Holtsville,0\n")
    version = datasets.import_dataset(wb, "zips", path, target="bought")
    assert any(f["column"] == "zip" for f in version.findings)
    assert version.schema["zip"] == "categorical"


def test_demo_error_analysis_is_stored_audited_and_reported(demo_wb: Workbench, tmp_path: Path) -> None:
    from pypdf import PdfReader

    from app.services import error_analysis
    from app.services.report_builder import export_compliance_report

    production = next(m for m in registry.list_models(demo_wb, SLUG) if m.stage == "production")
    best = next(r for r in training.list_runs(demo_wb, SLUG) if r.id == production.run_id)
    result = error_analysis.latest_analysis(demo_wb, SLUG, best.id)
    assert result is not None and result["rows"] > 0
    assert sum(map(sum, result["confusion"]["matrix"])) == result["rows"]
    assert 0 <= result["fairness"]["demographic_parity_difference"] <= 1
    assert "Berlin" in {str(s["segment"]) for s in result["segments"]["user_location"]}
    assert [i["feature"] for i in result["permutation_importance"]]
    assert any(e.action == "run.analysed" for e in audit_trail.recent_events(demo_wb, project=SLUG, limit=100))
    out = export_compliance_report(demo_wb, SLUG, tmp_path / "r.pdf").path
    text = "\n".join(p.extract_text() for p in PdfReader(out).pages)
    assert f"Error analysis of run {best.number}" in text and "Demographic parity difference" in text
    assert re.search(r"B\s+significantly\s+better", text)


def test_cli_analyse_prints_fairness_and_segments(demo_home: Path) -> None:
    run = next(line.split("\t")[0] for line in _cli("runs", SLUG).stdout.splitlines() if "logistic" in line)
    out = _cli("analyse", SLUG, run, "--segment", "item_genre", "--sensitive", "user_location")
    assert out.returncode == 0, out.stderr
    assert "demographic parity difference" in out.stdout and "segments of item_genre" in out.stdout
    bad = _cli("analyse", SLUG, run, "--segment", "no_such_column")
    assert bad.returncode == 2 and "no_such_column" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.parametrize("name, content, message", [
    ("gz.csv", b"\x1f\x8b\x08\x00rest", "compressed"),
    ("nul.csv", b"a,b\n1,\x002\n", "NUL"),
    ("semi.csv", b"a;b;c\n1;2;3\n4;5;6\n", "delimit"),
    ("long.csv", b"a,b\n1," + b"x" * 20_000 + b"\n", "line 2"),
])
def test_more_bad_files_are_refused_and_change_nothing(wb: Workbench, tmp_path: Path, name: str,
                                                        content: bytes, message: str) -> None:
    from app.errors import WorkbenchError

    projects.create_project(wb, "bad-files", problem_type="binary_classification")
    path = tmp_path / name
    path.write_bytes(content)
    head = audit_trail.head(wb)
    with pytest.raises(WorkbenchError, match=f"(?i){message}"):
        datasets.import_dataset(wb, "bad-files", path)
    assert audit_trail.head(wb) == head and datasets.list_datasets(wb, "bad-files") == []


def test_a_tampered_model_file_is_refused_before_loading(demo_home: Path) -> None:
    from app.services.workbench import Workbench as Bench
    from storage.workspace import Workspace

    bench = Bench.open(Workspace(demo_home))
    run = next(r for r in training.list_runs(bench, SLUG) if r.model_kind == "logistic_regression")
    model_file = bench.artifacts.path_for(run.artifact_sha256, ".skops")
    bench.close()
    model_file.chmod(0o644)
    model_file.write_bytes(model_file.read_bytes() + b"tampered")
    out = _cli("evaluate", SLUG, str(run.number))
    assert out.returncode == 2 and "does not match its hash" in out.stderr and "Traceback" not in out.stderr


def test_model_card_is_drafted_from_evidence_and_edited_by_a_person(demo_home: Path) -> None:
    shown = _cli("card", SLUG, "1")
    assert shown.returncode == 0, shown.stderr
    assert "Quantitative analyses: vs run" in shown.stdout and "Evaluation data:" in shown.stdout
    edited = _cli("card", SLUG, "1", "--set", "caveats=Retrain monthly; not for new markets")
    assert edited.returncode == 0 and "Caveats and recommendations: Retrain monthly; not for new markets" in edited.stdout
    bad = _cli("card", SLUG, "1", "--set", "nonsense=1")
    assert bad.returncode == 2 and "unknown model card section" in bad.stderr


def test_gate_metric_is_the_trainers() -> None:
    """Gates judge a project's runs on the metric its trainer selects on."""
    from app.ml.catalogue import PRIMARY_METRIC as TRAINED
    from storage.models import Project

    for problem_type, metric in TRAINED.items():
        assert training.primary_metric(Project(problem_type=problem_type)) == metric, problem_type


# --- checks that pass only on evidence: fairness findings and the stated ML metric ------------------


def _check(wb: Workbench, check_id: str, stage: int = 4) -> gates.CheckResult:
    return {c.id: c for c in gates.gate(wb, SLUG, stage).checks}[check_id]


def test_demo_fairness_findings_reach_the_gate_and_are_settled_by_the_validator(demo_wb: Workbench) -> None:
    from app.services import error_analysis, findings, people
    from app.services.demo import VALIDATOR

    raised = [f for f in findings.list_findings(demo_wb, SLUG) if f.source == "fairness"]
    production = next(m for m in registry.list_models(demo_wb, SLUG) if m.stage == "production")
    never = [f for f in raised if "never selects user_location" in f.title]
    assert len(never) == 3 and all(f.severity == "high" for f in never)  # three cities served nothing
    assert {f.version for f in raised} == {production.version}
    assert any("demographic parity difference by user_location" in f.title and "over the 0.1 allowed" in f.title
               for f in raised)  # the growth profile's limit
    validator = next(p for p in people.list_people(demo_wb) if p.name == VALIDATOR)
    for finding in raised:  # settled by someone else than the author, signed, with a reason
        opened, accepted = finding.history
        assert (opened.to_status, accepted.to_status, accepted.actor) == ("open", "accepted", VALIDATOR)
        assert accepted.signer_fingerprint == validator.fingerprint and "simulated" in accepted.reason
    check = _check(demo_wb, "fairness_reviewed")
    assert check.passed and check.required and f"{len(raised)} finding(s), each closed or accepted" in check.detail

    # the same analysis again raises nothing new; reopening one finding opens the gate
    error_analysis.analyse_run(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), SLUG, production.run_id,
                               segments=("user_location",), sensitive="user_location")
    assert len([f for f in findings.list_findings(demo_wb, SLUG) if f.source == "fairness"]) == len(raised)
    findings.set_status(demo_wb, SLUG, never[0].id, "open", "the feed now reaches Berlin users for real")
    check = _check(demo_wb, "fairness_reviewed")
    assert not check.passed and f"#{never[0].id} {never[0].title}" in check.detail
    assert not gates.gate(demo_wb, SLUG, 4).passed


def test_the_fairness_check_needs_an_analysis_of_the_chosen_model(demo_wb: Workbench) -> None:
    """The retrained version goes to production; nobody analysed its run for fairness yet."""
    from app.services import promotion
    from app.services.workbench import find_project
    from tests.conftest import register_person

    production = next(m for m in registry.list_models(demo_wb, SLUG) if m.stage == "production")
    with demo_wb.read() as session:
        run, why = gates.chosen_run(session, find_project(session, SLUG))
    assert run is not None and run.id == production.run_id and why == f"behind v{production.version}, in production"
    newest = max(registry.list_models(demo_wb, SLUG), key=lambda m: m.version)
    registry.record_approval(demo_wb, SLUG, newest.version, comment="retrained on labelled batches",
                             signer=register_person(demo_wb, "val.reviewer"))
    for check_id in ("model_card_complete", "significant_over_baseline"):
        promotion.waive(demo_wb, SLUG, newest.version, check_id, "same model kind, retrained on more rows")
    promotion.promote(demo_wb, SLUG, newest.version, reason="drift in 2026-03 answered")
    check = _check(demo_wb, "fairness_reviewed")
    assert not check.passed and f"no fairness analysis of run {newest.run_id}" in check.detail
    assert "--sensitive COLUMN" in check.detail


def test_the_stated_ml_metric_is_the_one_judged(demo_wb: Workbench) -> None:
    from app.services.demo import STATEMENT

    check = _check(demo_wb, "stated_metric_met")
    assert check.passed and check.detail.startswith("ROC AUC ") and "meets the stated ≥ 0.65" in check.detail
    production = next(m for m in registry.list_models(demo_wb, SLUG) if m.stage == "production")
    run = next(r for r in training.list_runs(demo_wb, SLUG) if r.id == production.run_id)

    deliverables.save_problem_statement(demo_wb, SLUG, STATEMENT | {"ml_metric": "Recall of clicks",
                                                                    "ml_metric_threshold": "≥ 0.95"})
    check = _check(demo_wb, "stated_metric_met")
    recall = run.metrics["val_recall"]
    assert not check.passed and not check.inconclusive
    assert check.detail == (f"recall at the 0.5 decision threshold {recall:.4f} on the validation part of run "
                            f"{run.id} (behind v{production.version}, in production) misses the stated ≥ 0.95")
    assert not gates.gate(demo_wb, SLUG, 4).passed  # required on the growth profile

    deliverables.save_problem_statement(demo_wb, SLUG, STATEMENT | {"ml_metric": "NDCG@10", "ml_metric_threshold": "0.5"})
    check = _check(demo_wb, "stated_metric_met")
    assert check.status == "inconclusive"
    assert "names NDCG@10, which the workbench does not compute for binary_classification" in check.detail
    assert "it computes ROC AUC, PR AUC, log loss" in check.detail and "CTR of the top 10%" in check.detail

    # the demo is a click-through project: its runs record the click metric, so it can be stated
    deliverables.save_problem_statement(demo_wb, SLUG, STATEMENT | {"ml_metric": "CTR of the top 10%",
                                                                    "ml_metric_threshold": "0.3"})
    assert _check(demo_wb, "stated_metric_met").passed


def test_a_statement_naming_an_unknown_metric_is_refused_when_saved(wb: Workbench) -> None:
    from app.errors import WorkbenchError

    projects.create_project(wb, "loans", problem_type="binary_classification", maturity="growth")
    head = audit_trail.head(wb)
    for fields, message in (
            ({"ml_metric": "customer happiness", "ml_metric_threshold": "0.9"},
             "ML metric 'customer happiness' names no metric the workbench knows: name one of precision, recall"),
            ({"ml_metric": "precision and recall", "ml_metric_threshold": "0.9"}, "names 2 metrics"),
            ({"ml_metric": "RMSE", "ml_metric_threshold": ">= 3"}, "points the wrong way")):
        with pytest.raises(WorkbenchError, match=message):
            deliverables.save_problem_statement(wb, "loans", fields)
    assert audit_trail.head(wb) == head and deliverables.deliverables(wb, "loans")["problem_statement"] == {}
    deliverables.save_problem_statement(wb, "loans", {"ml_metric": "recall of defaults", "ml_metric_threshold": "90%"})


def test_only_a_click_project_records_the_click_metric(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    frame = generate_interactions(2000, seed=5)
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    projects.create_project(wb, "loans", problem_type="binary_classification", maturity="growth")
    deliverables.save_problem_statement(wb, "loans", {
        "objective": "Decide which loan applications to review by hand", "business_metric": "Defaults caught",
        "ml_metric": "recall of defaults", "ml_metric_threshold": "0.5"})
    deliverables.save_framing(wb, "loans", FRAMING, list(FEATURES))
    datasets.import_dataset(wb, "loans", path, target="clicked")
    datasets.create_split(wb, "loans", seed=1)
    run = training.train(wb, runner, "loans", "logistic_regression")
    assert "val_ctr_at_top10pct" not in run.metrics and "val_recall" in run.metrics
    assert run.params["extra_metrics"] == []
    check = {c.id: c for c in gates.gate(wb, "loans", 4).checks}["stated_metric_met"]
    assert check.detail.startswith(f"recall at the 0.5 decision threshold {run.metrics['val_recall']:.4f} on the "
                                   f"validation part of run {run.number} (best candidate on val_roc_auc)")
