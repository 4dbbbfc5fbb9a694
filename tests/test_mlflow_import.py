"""Issue 15 point 2: `mlwb import mlflow` reads MLflow stores written by MLflow itself.

``tests/data/mlflow/`` was written by MLflow 3.17 (``tests/data/make_mlflow_store.py``, run in a
throwaway venv; MLflow is not a dependency): an ``mlruns/`` file store and a SQLite database with
the same story, and ``expected.json``, what the generator logged. Each is imported through the real
CLI into a real workspace, and the round trip is checked against the generator: runs, params,
metric histories, tags, registered versions with their aliases, the audit events with the MLflow
ids; a second import adds nothing; bad input is refused with nothing written.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli import main
from app.ml.demo_data import generate_interactions
from app.errors import WorkbenchError
from app.services import comparison, datasets, deliverables, projects, registry
from app.services.demo import FEATURES, FRAMING, STATEMENT
from app.services.external_runs import trained_outside
from app.services.mlflow_import import PICKLE_NOTE, imported_versions
from app.services.workbench import Workbench
from storage.models import AuditEvent, Run

DATA = Path(__file__).parent / "data" / "mlflow"
EXPECTED = json.loads((DATA / "expected.json").read_text())
SLUG = "churn"


class _Trap:
    """A pickle that, when loaded, leaves a file behind: the import must never load one."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    """Private copies: the file store as MLflow wrote it (its pickled model swapped for a trap
    that would leave ``unpickled`` behind if anything loaded it), the database unpacked."""
    import pickle

    shutil.copytree(DATA / "mlruns", tmp_path / "mlruns")
    pickles = list((tmp_path / "mlruns").rglob("model.pkl"))
    assert pickles, "the fixture should hold MLflow's pickled model"
    for path in pickles:
        path.write_bytes(pickle.dumps(_Trap(tmp_path / "unpickled")))
    with gzip.open(DATA / "mlflow.db.gz", "rb") as packed, open(tmp_path / "mlflow.db", "wb") as db:
        shutil.copyfileobj(packed, db)
    return {"file": tmp_path / "mlruns", "sqlite": tmp_path / "mlflow.db"}


@pytest.fixture
def project(wb: Workbench, tmp_path: Path) -> Workbench:
    projects.create_project(wb, SLUG, problem_type="binary_classification", maturity="growth")
    deliverables.save_problem_statement(wb, SLUG, STATEMENT)
    deliverables.save_framing(wb, SLUG, FRAMING, FEATURES)
    path = tmp_path / "interactions.csv"
    generate_interactions(400, seed=1).to_csv(path, index=False)
    datasets.import_dataset(wb, SLUG, path, target="clicked")
    datasets.create_split(wb, SLUG, seed=3)
    return wb


def _counts(wb: Workbench) -> tuple[int, int]:
    with wb.read() as session:
        return session.scalar(select(func.count(Run.id))), session.scalar(select(func.count(AuditEvent.seq)))


def _import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict | str]:
    code = main(["import", "mlflow", *args])
    out = capsys.readouterr()
    if code == 0 and "--json" in args:
        return code, json.loads(out.out)
    return code, out.out + out.err


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_an_mlflow_store_round_trips_and_a_second_import_adds_nothing(
        project: Workbench, stores: dict[str, Path], kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    expected = EXPECTED[kind]
    code, result = _import(capsys, str(stores[kind]), "--project", SLUG, "--json")
    assert code == 0, result
    assert result["summary"] == "runs: 3 new, 0 already imported; registered model versions: 2 new, 0 already imported"
    assert any("1 deleted run" in s for s in result["skipped"])
    by_id = {r["mlflow_run_id"]: r for r in result["runs"]}
    assert set(by_id) == {r["run_id"] for r in expected["runs"]}
    assert expected["deleted_run_id"] not in by_id

    with project.read() as session:
        rows = {r.environment["imported_from"]["run_id"]: r for r in session.scalars(select(Run))}
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.project_slug == SLUG)
                                      .order_by(AuditEvent.seq)))
    for spec in expected["runs"]:
        run = rows[spec["run_id"]]
        assert run.origin == "external" and run.artifact_sha256 is None and run.predictions_sha256 is None
        assert run.params == spec["params"]  # exactly MLflow's, strings as MLflow keeps them
        assert {k: v for k, v in run.tags.items() if not k.startswith("mlflow.")} == spec["tags"]
        assert run.tags["mlflow.runName"] == spec["name"]
        for key, values in spec["history"].items():
            assert run.metrics[f"mlflow.{key}"] == values[-1]
            assert run.metric_history[f"mlflow.{key}"] == [[step, v] for step, v in enumerate(values)]
        for key, value in spec["metrics"].items():
            assert run.metrics[f"mlflow.{key}"] == value
        assert not any(k.startswith("val_") for k in run.metrics)  # never beside the workbench's own scores
        source = run.environment["imported_from"]
        assert source["experiment"] == spec["experiment"] and source["status"] == "FINISHED"
        sentence = trained_outside(run)
        assert "imported from MLflow" in sentence and "data the workbench did not see" in sentence
        if spec["model"] and kind == "sqlite":
            # a database holds no MLmodel file (the artifacts live elsewhere, not in this fixture):
            # the model is still not imported, and the run says its format is unknown
            assert source["model_note"].startswith("model not imported: its MLmodel file is not in the store")
        elif spec["model"] == "cloudpickle":
            assert PICKLE_NOTE in source["model_note"] and PICKLE_NOTE in sentence
        elif spec["model"] == "skops":
            assert "stored it as skops" in source["model_note"]
        else:
            assert source["model_note"] == "no model was logged in MLflow"
        assert by_id[spec["run_id"]]["run_number"] == run.number

    imported = [e for e in events if e.action == "run.imported"]
    assert sorted(json.loads(e.payload)["mlflow_run_id"] for e in imported) == sorted(rows)
    assert all(json.loads(e.payload)["signature"] for e in imported)  # signed by the importer's key
    version_events = [json.loads(e.payload) for e in events if e.action == "mlflow.model_version_imported"]
    model = expected["model"]
    assert sorted((v["mlflow_model"], v["mlflow_version"], v["mlflow_run_id"]) for v in version_events) == sorted(
        (model["name"], v["version"], v["run_id"]) for v in model["versions"])
    facts = {v.version: v for v in imported_versions(project, SLUG)}
    for version in model["versions"]:
        fact = facts[version["version"]]
        assert fact.run_number == rows[version["run_id"]].number  # linked to the imported run
        assert fact.aliases == tuple(a for a, n in model["aliases"].items() if n == version["version"])
    with project.read() as session:
        from storage.models import ModelVersion

        assert session.scalar(select(func.count(ModelVersion.id))) == 0  # facts, not promotable versions
    first, second = (rows[r["run_id"]].id for r in expected["runs"][:2])
    for refused in (lambda: registry.register_model(project, SLUG, first),
                    lambda: comparison.compare_runs(project, SLUG, first, second)):
        with pytest.raises(WorkbenchError, match="imported from MLflow without a model"):
            refused()

    assert not (stores["file"].parent / "unpickled").exists()  # MLflow's pickle was never loaded
    before = _counts(project)
    code, again = _import(capsys, str(stores[kind]), "--project", SLUG, "--json")
    assert code == 0
    assert again["summary"] == "runs: 0 new, 3 already imported; registered model versions: 0 new, 2 already imported"
    assert _counts(project) == before
    code, text = _import(capsys, str(stores[kind]), "--project", SLUG)
    assert code == 0 and "runs: 0 new, 3 already imported" in text and "model not imported" in text


def test_one_experiment_only(project: Workbench, stores: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """Through a SQLAlchemy URL too (the reader a PostgreSQL MLflow database goes through)."""
    url = f"sqlite:///{stores['sqlite']}"
    code, result = _import(capsys, url, "--project", SLUG, "--experiment", "churn-trees", "--json")
    assert code == 0, result
    assert [r["name"] for r in result["runs"]] == ["tree-depth4"]
    assert [(v["version"], v["aliases"]) for v in result["versions"]] == [(2, ["champion"])]
    assert result["store_kind"] == "database" and result["store"] == url
    code, result = _import(capsys, str(stores["sqlite"]), "--project", SLUG, "--json")
    assert result["summary"] == "runs: 2 new, 1 already imported; registered model versions: 1 new, 1 already imported"


def test_an_alias_moved_in_mlflow_is_recorded_again(project: Workbench, stores: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    assert _import(capsys, str(stores["sqlite"]), "--project", SLUG)[0] == 0
    with sqlite3.connect(stores["sqlite"]) as db:  # the team moved "champion" back to version 1
        db.execute("UPDATE registered_model_aliases SET version = 1 WHERE alias = 'champion'")
    code, result = _import(capsys, str(stores["sqlite"]), "--project", SLUG, "--json")
    assert code == 0, result
    assert result["summary"] == ("runs: 0 new, 3 already imported; registered model versions: 2 new "
                                 "(2 with moved aliases), 0 already imported")
    facts = {v.version: v.aliases for v in imported_versions(project, SLUG)}
    assert facts == {1: ("champion",), 2: ()}


def test_superseded_data_is_refused_with_the_import_s_words(project: Workbench, stores: dict[str, Path],
                                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    newer = tmp_path / "newer.csv"
    generate_interactions(400, seed=2).to_csv(newer, index=False)
    datasets.import_dataset(project, SLUG, newer, target="clicked")
    before = _counts(project)
    code, text = _import(capsys, str(stores["file"]), "--project", SLUG, "--dataset", "1")
    assert code != 0 and "superseded by dataset 2" in text and "leave out --dataset" in text, text
    assert _counts(project) == before


def test_bad_input_is_refused_and_writes_nothing(project: Workbench, stores: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before = _counts(project)
    not_a_store = tmp_path / "notes"
    not_a_store.mkdir()
    (not_a_store / "readme.txt").write_text("hello")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    import sqlite3

    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE things (id INTEGER)")
    cases = [
        ((str(not_a_store), "--project", SLUG), "holds no MLflow experiment"),
        ((str(tmp_path / "data.csv"), "--project", SLUG), "neither an MLflow `mlruns/` folder nor an MLflow SQLite"),
        ((str(tmp_path / "other.db"), "--project", SLUG), "not an MLflow tracking store"),
        ((str(tmp_path / "missing"), "--project", SLUG), "no file or folder at"),
        ((str(stores["file"]), "--project", SLUG, "--experiment", "nope"), "has no experiment 'nope'"),
        ((str(stores["sqlite"]), "--project", "ghost"), "no project 'ghost'"),
        ((str(stores["sqlite"]), "--project", SLUG, "--dataset", "9"), "has no dataset 9"),
        (("postgresql+psycopg://team:s3cret@127.0.0.1:1/mlflow", "--project", SLUG),
         "postgresql+psycopg://team:***@127.0.0.1:1/mlflow"),
    ]
    for args, message in cases:
        code, text = _import(capsys, *args)
        assert code != 0 and message in text and "Traceback" not in text, (args, text)
        assert text.startswith("error: ") and "s3cret" not in text
    assert _counts(project) == before


async def test_the_data_screen_imports_a_store_picked_in_the_file_picker(
        project: Workbench, stores: dict[str, Path], tmp_path: Path) -> None:
    """m on the data screen: the picker chooses an `mlruns/` folder (instead of opening it) or a
    .db file; a database that is not MLflow's is refused beside the path and the picker stays."""
    import sqlite3

    from textual.widgets import Input

    from app.tui import WorkbenchApp
    from screens.data import DataScreen
    from screens.modals.file_picker import FilePicker
    from tests.tui.test_tui_release_monitoring import messages
    from tests.tui.test_tui_workbench import SIZE, settle

    with sqlite3.connect(tmp_path / "other.db") as db:
        db.execute("CREATE TABLE things (id INTEGER)")
    before = _counts(project)
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = DataScreen(SLUG)
        app.push_screen(screen)
        await settle(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        picker = app.screen
        assert isinstance(picker, FilePicker)
        path_field = picker.query_one("#picker-path", Input)
        path_field.value = str(tmp_path / "other.db")
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is picker and "not an MLflow tracking store" in str(picker.query_one("#picker-error").content)
        assert _counts(project) == before
        path_field.value = str(stores["file"])
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        shown = " ".join(messages(app))
        assert "runs: 3 new, 0 already imported" in shown and PICKLE_NOTE in shown
    with project.read() as session:
        assert session.scalar(select(func.count(Run.id)).where(Run.origin == "external")) == 3
