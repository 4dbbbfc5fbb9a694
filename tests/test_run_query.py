"""Runs filtered, sorted and paged in SQL (app/services/run_query.py) on a real registry of a few
hundred runs recorded through the training service, checked against the same question answered
in plain Python over every run; the filter grammar's errors; `mlwb runs --filter … --json`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.errors import WorkbenchError
from app.services import training
from app.services.run_query import QueryError, parse_filter, query_runs, run_counts, run_trials
from app.services.training import RunView
from app.services.workbench import Workbench
from bench.runs_scale import record_runs
from storage.workspace import Workspace
from tests.conftest import _open_as_me, copy_workspace

SLUG = "ctr-demo"
N_JOBS = 60
TRIALS = 3  # each job records a run and three tuning trials, as a tuned training does
N_RUNS = N_JOBS
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built_home(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo plus N_RUNS runs recorded through the services (jobs, artifacts, audit events)."""
    home = tmp_path_factory.mktemp("run-query") / "mlwb-home"
    with pytest.MonkeyPatch.context() as mp:
        copy_workspace(demo_template, home, mp, keep=True)  # kept for the module's tests to copy
        wb = _open_as_me(home)
        record_runs(wb, SLUG, N_JOBS, trials=TRIALS, seed=3)
        wb.close()
    return home


@pytest.fixture
def runs_wb(built_home: Path, mlwb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    copy_workspace(built_home, mlwb_home, monkeypatch)
    wb = Workbench.open(Workspace(mlwb_home))
    yield wb
    wb.close()


def every_run(wb: Workbench) -> list[RunView]:
    return training.list_runs(wb, SLUG)


def all_pages(wb: Workbench, where: str, sort: str, limit: int) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        page = query_runs(wb, SLUG, where, sort, limit=limit, after=cursor)
        ids += [r.id for r in page.runs]
        assert len(page.runs) <= limit
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_a_metric_filter_sorted_best_first_is_what_python_finds_over_every_run(runs_wb: Workbench) -> None:
    runs = every_run(runs_wb)
    assert len(runs) == N_RUNS + 6  # the demo's six and ours
    expected = sorted((r for r in runs if r.metrics.get("val_roc_auc", 0) > 0.8),
                      key=lambda r: (r.metrics["val_roc_auc"], r.id), reverse=True)
    assert 10 < len(expected) < 40
    page = query_runs(runs_wb, SLUG, "val_roc_auc > 0.8", "-val_roc_auc", limit=10, with_total=True)
    assert [r.id for r in page.runs] == [r.id for r in expected[:10]]
    assert page.total == len(expected) and page.next_cursor is not None
    assert page.runs[0] == next(r for r in runs if r.id == page.runs[0].id)  # the same RunView list_runs gives


@pytest.mark.parametrize(("where", "sort", "limit"), [
    ("val_roc_auc > 0.8", "-val_roc_auc", 7),
    ("", "model", 11),
    ("params.max_depth <= 6 and model = logistic_regression", "-seconds", 3),
    ("hist", "rung", 50),
    ("", "-val_pr_auc", 16),
])
def test_keyset_pages_cover_every_match_once_in_order(runs_wb: Workbench, where: str, sort: str, limit: int) -> None:
    runs = every_run(runs_wb)
    rank = {"popularity_baseline": 0, "logistic_regression": 1, "decision_tree": 1, "hist_gradient_boosting": 2}
    key = {
        "-val_roc_auc": lambda r: (r.metrics["val_roc_auc"], r.id),
        "model": lambda r: (r.model_kind, r.id),
        "-seconds": lambda r: (r.duration_s, r.id),
        "rung": lambda r: (rank[r.model_kind], r.id),
        "-val_pr_auc": lambda r: (r.metrics["val_pr_auc"], r.id),
    }[sort]
    keep = {
        "val_roc_auc > 0.8": lambda r: r.metrics["val_roc_auc"] > 0.8,
        "": lambda r: True,
        "params.max_depth <= 6 and model = logistic_regression":
            lambda r: r.params.get("max_depth") is not None and r.params["max_depth"] <= 6
            and r.model_kind == "logistic_regression",
        "hist": lambda r: "hist" in f"{r.number} {r.model_kind} {r.created_by}",
    }[where]
    expected = [r.id for r in sorted(filter(keep, runs), key=key, reverse=sort.startswith("-"))]
    assert expected, "the query must match something to mean anything"
    assert all_pages(runs_wb, where, sort, limit) == expected
    # the screen's way: a window at an offset is the same slice
    window = query_runs(runs_wb, SLUG, where, sort, limit=10, offset=len(expected) // 2)
    assert [r.id for r in window.runs] == expected[len(expected) // 2:len(expected) // 2 + 10]


def test_runs_without_the_sort_metric_come_last_and_a_test_metric_is_promoted_when_opened(
        runs_wb: Workbench) -> None:
    from app.jobs import JobRunner
    from app.services.evaluation import score_on_test
    from app.services.jobs import WorkbenchLedger

    runs = every_run(runs_wb)
    scored = runs[1]  # the demo's logistic regression: it has a model file
    score_on_test(runs_wb, JobRunner(WorkbenchLedger(runs_wb)), SLUG, scored.id)
    page = query_runs(runs_wb, SLUG, "", "-test_roc_auc", limit=3, with_total=True)
    assert page.runs[0].id == scored.id and page.runs[0].test_metrics
    assert [r.id for r in page.runs[1:]] == sorted((r.id for r in runs if r.id != scored.id), reverse=True)[:2]
    assert page.total == len(runs)
    assert [r.id for r in query_runs(runs_wb, SLUG, "test_roc_auc > 0", "id").runs] == [scored.id]
    # paging crosses from the runs with the metric to those without, each run once
    assert sorted(all_pages(runs_wb, "", "-test_roc_auc", 40)) == sorted(r.id for r in runs)


def test_trials_are_queried_only_when_asked_and_counted(runs_wb: Workbench) -> None:
    counts = run_counts(runs_wb, SLUG)
    with_trials = training.list_runs(runs_wb, SLUG, include_trials=True)
    assert counts.runs == N_RUNS + 6 and counts.trials == len(with_trials) - counts.runs >= N_JOBS * TRIALS
    expected = sorted((r for r in with_trials if r.metrics.get("val_roc_auc", 0) > 0.8),
                      key=lambda r: (r.metrics["val_roc_auc"], r.id), reverse=True)
    page = query_runs(runs_wb, SLUG, "val_roc_auc > 0.8", "-val_roc_auc", limit=1000, include_trials=True)
    assert [r.id for r in page.runs] == [r.id for r in expected] and any(r.parent_run_id for r in page.runs)
    assert counts.problem_type == "binary_classification"
    page = query_runs(runs_wb, SLUG, "", "id", limit=10_000, include_trials=True)
    assert [r.id for r in page.runs] == [r.id for r in with_trials]
    parents = {r.parent_run_id for r in with_trials if r.parent_run_id}
    for parent in parents:
        assert [t.id for t in run_trials(runs_wb, SLUG, parent)] == [
            r.id for r in with_trials if r.parent_run_id == parent]


@pytest.mark.parametrize(("where", "named"), [
    ("val_roc_auc >", "'val_roc_auc >' needs a value"),
    ("> 0.8", "'>' needs a field"),
    ("val_roc_auc > 0.8 or model = x", "'or' is not supported"),
    ("val_roc_auc > high", "not 'high'"),
    ("model > hist", "model is text"),
    ("val_roc_auc ~ 8", "~ (contains) is for text"),
    ("val_roc_auc > 0.8 model = x", "expected 'and' before 'model'"),
    ("hist and", "'and' at the end"),
    ("baseline = maybe", "baseline takes"),
    ("params.max_depth > deep", "params.max_depth > needs a number"),
])
def test_a_bad_filter_is_refused_naming_the_token(where: str, named: str) -> None:
    with pytest.raises(QueryError, match=None) as caught:
        parse_filter(where)
    assert named in str(caught.value)
    assert isinstance(caught.value, WorkbenchError)


def test_unknown_metrics_limits_and_cursors_are_refused_with_what_to_do(runs_wb: Workbench) -> None:
    with pytest.raises(QueryError, match="no run of this project has a metric 'val_rocauc'.*val_roc_auc"):
        query_runs(runs_wb, SLUG, "val_rocauc > 0.5")
    with pytest.raises(QueryError, match="no run of this project has a metric 'nope'"):
        query_runs(runs_wb, SLUG, "", "-nope")
    assert query_runs(runs_wb, SLUG, "", "-nope", strict_sort=False, limit=2).runs  # the screen's sort: by id
    with pytest.raises(QueryError, match="--limit must be between"):
        query_runs(runs_wb, SLUG, limit=0)
    cursor = query_runs(runs_wb, SLUG, "", "model", limit=5).next_cursor
    assert cursor is not None
    with pytest.raises(QueryError, match="belongs to a query sorted by 'model'"):
        query_runs(runs_wb, SLUG, "", "-val_roc_auc", after=cursor)
    with pytest.raises(QueryError, match="not a cursor"):
        query_runs(runs_wb, SLUG, after="garbage!")


def _mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=300)


def test_the_cli_answers_the_query_as_one_json_document_and_pages_with_its_cursor(runs_wb: Workbench) -> None:
    expected = query_runs(runs_wb, SLUG, "val_roc_auc > 0.8", "-val_roc_auc", limit=5)
    done = _mlwb("runs", SLUG, "--filter", "val_roc_auc > 0.8", "--sort", "-val_roc_auc", "--limit", "5", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [r["id"] for r in document["runs"]] == [r.id for r in expected.runs]
    assert document["runs"][0]["metrics"]["val_roc_auc"] == expected.runs[0].metrics["val_roc_auc"]
    assert document["next_cursor"] == expected.next_cursor
    following = _mlwb("runs", SLUG, "--filter", "val_roc_auc > 0.8", "--sort", "-val_roc_auc", "--limit", "5",
                      "--after", document["next_cursor"], "--json")
    second = query_runs(runs_wb, SLUG, "val_roc_auc > 0.8", "-val_roc_auc", limit=5, after=expected.next_cursor)
    assert [r["id"] for r in json.loads(following.stdout)["runs"]] == [r.id for r in second.runs]

    plain = _mlwb("runs", SLUG, "--filter", "model = logistic_regression", "--limit", "3")
    assert plain.returncode == 0 and len(plain.stdout.splitlines()) == 3
    assert all("\tlogistic_regression\t" in line for line in plain.stdout.splitlines())
    assert "more: --after" in plain.stderr

    bad = _mlwb("runs", SLUG, "--filter", "val_roc_auc > 0.8 or hist", "--json")
    assert bad.returncode != 0 and "error: filter: 'or' is not supported" in bad.stderr
    assert "Traceback" not in bad.stderr and bad.stdout == ""
