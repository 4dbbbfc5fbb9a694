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
    compared = _cli("compare", SLUG, baseline, str(run["run"]), "--json")
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
    assert f"Error analysis of run {best.id}" in text and "Demographic parity difference" in text
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
    out = _cli("evaluate", SLUG, str(run.id))
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
