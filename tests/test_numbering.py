"""Issue 13 point 8: datasets and runs numbered per project in what a person sees and types.

The ids stay the registry's keys (unique across projects); "dataset 2" and "run 3" are counted
within the project (``app.services.numbering``). A registry written before the numbers existed
(``tests/data/registry-0006.tar.gz``, built with the code at revision 0006 by
``tests/data/build_registry_0006.sh``: projects alpha and beta, interleaved, with a tuned run whose
trials are child runs) is numbered by migration 0007 and still verifies, while a row edited
outside the workbench before the upgrade is still caught.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from app.errors import NotFound, WorkbenchError
from app.jobs import JobRunner
from app.ml.demo_data import generate_interactions
from app.services import (audit_trail, datasets, deliverables, numbering, projects, registry, state_binding,
                          training)
from app.services.demo import FEATURES, FRAMING, STATEMENT
from app.services.workbench import Workbench
from storage.workspace import Workspace
from tests.registries import ON_POSTGRESQL

REGISTRY_0006 = Path(__file__).parent / "data" / "registry-0006.tar.gz"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)


def _framed(wb: Workbench, slug: str) -> None:
    projects.create_project(wb, slug, problem_type="binary_classification", maturity="growth")
    deliverables.save_problem_statement(wb, slug, STATEMENT)
    deliverables.save_framing(wb, slug, FRAMING, FEATURES)


@pytest.fixture
def two_projects(wb: Workbench, runner: JobRunner, tmp_path: Path) -> dict[str, list[training.RunView]]:
    """alpha and beta, every step interleaved: datasets, splits and runs alternate projects, and
    alpha's second run is tuned (its trials are child runs, which take no number)."""
    files = []
    for seed in (1, 2):
        path = tmp_path / f"interactions-{seed}.csv"
        generate_interactions(600, seed=seed).to_csv(path, index=False)
        files.append(path)
    for slug in ("alpha", "beta"):
        _framed(wb, slug)
    for path in files:
        for slug in ("alpha", "beta"):
            datasets.import_dataset(wb, slug, path, target="clicked")
    for slug in ("alpha", "beta"):
        datasets.create_split(wb, slug, seed=3)
    runs: dict[str, list[training.RunView]] = {"alpha": [], "beta": []}
    for slug, kind, tune in (("alpha", "majority_baseline", None), ("beta", "majority_baseline", None),
                             ("alpha", "decision_tree", "random"), ("beta", "logistic_regression", None),
                             ("alpha", "logistic_regression", None)):
        runs[slug].append(training.train(wb, runner, slug, kind, tune=tune, trials=2))
    return runs


def test_two_projects_interleaved_are_numbered_from_one_each(wb: Workbench, two_projects) -> None:
    for slug in ("alpha", "beta"):
        assert [d.number for d in datasets.list_datasets(wb, slug)] == [1, 2]
        assert [s.dataset_number for s in datasets.list_splits(wb, slug)] == [2]  # the latest training data
    assert [r.number for r in two_projects["alpha"]] == [1, 2, 3]
    assert [r.number for r in two_projects["beta"]] == [1, 2]
    assert [r.number for r in training.list_runs(wb, "alpha")] == [1, 2, 3]
    assert all(r.dataset_number == 2 for r in training.list_runs(wb, "alpha"))
    trials = [r for r in training.list_runs(wb, "alpha", include_trials=True) if r.parent_run_id is not None]
    assert len(trials) == 2 and {t.number for t in trials} == {None}  # trials use up no number
    ids = [r.id for rs in two_projects.values() for r in rs]
    assert len(set(ids)) == len(ids) and sorted(ids) != [1, 2, 3, 4, 5]  # ids stay global (trials between)
    # what a person types resolves within the project; the qualified form names its own project
    assert numbering.run_id(wb, "2", project="beta") == two_projects["beta"][1].id
    assert numbering.run_id(wb, "beta/run 2") == numbering.run_id(wb, "beta/run2") == two_projects["beta"][1].id
    assert numbering.dataset_id(wb, "alpha/dataset 2") == datasets.list_datasets(wb, "alpha")[1].id


def test_unknown_or_misplaced_numbers_are_refused_clearly(wb: Workbench, two_projects) -> None:
    with pytest.raises(NotFound, match=r"project 'beta' has no run 3 \(its runs are 1–2\).*mlwb runs beta"):
        numbering.run_id(wb, "3", project="beta")
    with pytest.raises(NotFound, match=r"project 'alpha' has no dataset 9 \(its datasets are 1–2\)"):
        numbering.dataset_id(wb, "9", project="alpha")
    with pytest.raises(WorkbenchError, match="a run of project 'beta', but this command is about project 'alpha'"):
        numbering.run_id(wb, "beta/run 1", project="alpha")
    with pytest.raises(WorkbenchError, match="names a dataset; a run is expected"):
        numbering.run_id(wb, "alpha/dataset 1")
    with pytest.raises(WorkbenchError, match=r"which project's run 2\? Write it as PROJECT/run 2"):
        numbering.run_id(wb, "2")
    with pytest.raises(WorkbenchError, match="'two' is not a run"):
        numbering.run_id(wb, "two", project="alpha")


def test_the_cli_takes_numbers_in_the_project_and_qualified(wb: Workbench, two_projects) -> None:
    alpha, beta = two_projects["alpha"], two_projects["beta"]
    compared = _cli("compare", "alpha", "1", "3", "--json")
    assert compared.returncode == 0, compared.stderr
    c = json.loads(compared.stdout)
    assert (c["run_a"], c["run_b"]) == (alpha[0].id, alpha[2].id)  # ids stay ids in --json …
    assert (c["run_a_number"], c["run_b_number"]) == (1, 3)  # … with the numbers beside them
    said = _cli("compare", "beta", "1", "beta/run 2")
    assert said.returncode == 0 and said.stdout.startswith("run 2 vs run 1:"), said.stderr
    registered = _cli("models", "beta", "--register", "2", "--json")
    assert registered.returncode == 0, registered.stderr
    v = json.loads(registered.stdout)
    assert (v["run_id"], v["run_number"], v["version"]) == (beta[1].id, 2, 1)
    listing = _cli("runs", "alpha", "--json")
    assert [(r["id"], r["number"]) for r in json.loads(listing.stdout)] == [(r.id, r.number) for r in alpha]
    assert [line.split("\t")[0] for line in _cli("runs", "alpha").stdout.splitlines()] == ["1", "2", "3"]
    data = json.loads(_cli("data", "list", "beta", "--json").stdout)
    assert [d["number"] for d in data] == [1, 2] and data[0]["id"] != 1
    unknown = _cli("compare", "beta", "1", "7")
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert "error: project 'beta' has no run 7 (its runs are 1–2)" in unknown.stderr
    nowhere = _cli("runs", "reproduce", "2")
    assert nowhere.returncode != 0 and "Write it as PROJECT/run 2" in nowhere.stderr


def test_a_reference_to_another_project_is_not_taken_as_this_ones(wb: Workbench, two_projects) -> None:
    done = _cli("models", "alpha", "--register", "beta/run 2")
    assert done.returncode != 0 and "is a run of project 'beta'" in done.stderr
    assert registry.list_models(wb, "alpha") == []


# --- upgrading a registry written before the numbers ----------------------------------------------


#: The upgrade tests start from a registry saved at migration 0006, which is a SQLite file.
upgrades_a_saved_sqlite_file = pytest.mark.skipif(
    ON_POSTGRESQL, reason="upgrades a registry saved at migration 0006, a SQLite file in tests/data; the suite "
    "runs on PostgreSQL (MLWB_TEST_DATABASE_URL)")


def _unpack_0006(home: Path) -> Path:
    with tarfile.open(REGISTRY_0006) as archive:
        archive.extractall(home.parent, filter="data")
    (home.parent / "home").rename(home)
    return home / "registry.sqlite3"


def _sql(database: Path, statement: str) -> None:
    with sqlite3.connect(database) as connection:
        connection.execute(statement)


def _numbered_events(wb: Workbench) -> list[dict]:
    """The payloads of the ``audit.rows_numbered`` events (the upgrade's re-binding)."""
    from sqlalchemy import select

    from storage.models import AuditEvent

    with wb.read() as session:
        return [json.loads(p) for p in session.scalars(
            select(AuditEvent.payload).where(AuditEvent.action == "audit.rows_numbered"))]


def _verify(wb: Workbench) -> tuple[bool, list[str]]:
    chain = audit_trail.verify(wb)
    rows = state_binding.verify_workspace_rows(wb)
    return chain.ok, [p.key for p in rows.problems]


@upgrades_a_saved_sqlite_file
def test_an_upgraded_registry_is_numbered_in_id_order_and_still_verifies(mlwb_home: Path) -> None:
    _unpack_0006(mlwb_home)
    wb = Workbench.open(Workspace(mlwb_home))
    try:
        assert _verify(wb) == (True, [])
        assert [(d.id, d.number) for d in datasets.list_datasets(wb, "alpha")] == [(1, 1), (3, 2)]
        assert [(d.id, d.number) for d in datasets.list_datasets(wb, "beta")] == [(2, 1)]
        assert [(r.id, r.number) for r in training.list_runs(wb, "alpha")] == [(1, 1), (3, 2), (8, 3)]
        assert [(r.id, r.number) for r in training.list_runs(wb, "beta")] == [(2, 1), (7, 2)]
        trials = [r for r in training.list_runs(wb, "alpha", include_trials=True) if r.parent_run_id == 3]
        assert [r.number for r in trials] == [None, None, None]
        assert registry.list_models(wb, "alpha")[0].run_number == 3
        (event,) = _numbered_events(wb)
        # 3 dataset versions and 8 runs: 5 numbered, 3 trials that gained only their project
        assert event["left_as_found"] == [] and event["rows"] == 11 and "run/4" in event["row_hashes"]
        wb.close()
        wb = Workbench.open(Workspace(mlwb_home))  # a second open changes nothing
        assert len(_numbered_events(wb)) == 1 and _verify(wb) == (True, [])
        # a number edited after the upgrade is caught like any other column
        wb.close()
        _sql(mlwb_home / "registry.sqlite3", "UPDATE run SET number = 9 WHERE id = 7")
        wb = Workbench.open(Workspace(mlwb_home))
        assert _verify(wb) == (True, ["run/7"])
    finally:
        wb.close()


@upgrades_a_saved_sqlite_file
def test_a_row_edited_before_the_upgrade_is_not_blessed_by_it(mlwb_home: Path) -> None:
    database = _unpack_0006(mlwb_home)
    _sql(database, "UPDATE run SET seed = 99 WHERE id = 8")  # edited behind the workbench's back
    _sql(database, "UPDATE dataset_version SET n_rows = 1 WHERE id = 2")
    wb = Workbench.open(Workspace(mlwb_home))
    try:
        ok, problems = _verify(wb)
        assert ok and problems == ["dataset_version/2", "run/8"]
        (event,) = _numbered_events(wb)
        assert event["left_as_found"] == ["dataset_version/2", "run/8"]
        said = _cli("audit", "verify")
        assert said.returncode != 0 and "run 8 differs from what audit event" in said.stdout + said.stderr
    finally:
        wb.close()


@upgrades_a_saved_sqlite_file
def test_the_setting_put_back_cannot_bless_an_edited_number(mlwb_home: Path) -> None:
    """Re-inserting migration 0007's setting by hand makes the next open look again, and a number
    that is not the one derived from id order is left as found, still caught."""
    database = _unpack_0006(mlwb_home)
    Workbench.open(Workspace(mlwb_home)).close()
    _sql(database, "UPDATE run SET number = 5 WHERE id = 8")
    _sql(database, "INSERT INTO workspace_setting (name, value) VALUES ('numbers_pending', 'pending')")
    wb = Workbench.open(Workspace(mlwb_home))
    try:
        assert _verify(wb) == (True, ["run/8"])
    finally:
        wb.close()
