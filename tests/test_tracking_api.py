"""The public tracking module (``mlwb``, source in app/tracking): a run of the user's own training
code is logged, re-scored on the split's validation part, compared with a built-in baseline,
registered, approved by a validator's key, promoted and served; bad input writes nothing.

Real SQLite (a copy of the demo workspace), real fits, real worker processes for the built-in
baseline and the registration's reference profile.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

import app.tracking as mlwb
from app.errors import NotFound
from app.jobs import JobRunner
from app.services import comparison, datasets, projects, promotion, registry, serving, training
from app.services.demo import CARD, SLUG
from app.services.jobs import WorkbenchLedger
from app.services.workbench import Workbench
from app.signing import new_signing_key, verify_statement, write_private_key
from storage.models import AuditEvent, Run
from storage.workspace import Workspace
from tests.conftest import register_person

ROOT = Path(__file__).resolve().parents[1]
CATEGORICAL = ["user_location", "item_genre"]


def _counts(wb: Workbench) -> tuple[int, int]:
    with wb.read() as session:
        return session.scalar(select(func.count(Run.id))), session.scalar(select(func.count(AuditEvent.seq)))


def _encoded(estimator: object) -> object:
    """The user's own pipeline: ordinal-encode the two text features, then the estimator."""
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = make_column_transformer(
        (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), CATEGORICAL), remainder="passthrough")
    return make_pipeline(encode, estimator)


def _readme_flow(wb: Workbench, estimator: object, params: dict[str, object]) -> None:
    """The README's script and the verbs after it: compare with a built-in baseline, register,
    approve (the validator's key), promote, serve."""
    with mlwb.start_run(SLUG, params=params, workbench=wb) as run:
        X, y = run.train_data()
        model = _encoded(estimator).fit(X, y)
        for step, loss in enumerate([0.52, 0.41, 0.37]):
            run.log_metrics({"train_logloss": loss}, step=step)
        run.set_tags({"team": "growth"})
        scores = run.log_model(model, signature={"inputs": list(X.columns)})
    assert run.id is not None and scores["val_roc_auc"] > 0.6
    view = run.view
    assert view.origin == "external" and view.model_kind.startswith("external:")
    assert view.metrics["val_roc_auc"] == scores["val_roc_auc"] and view.metrics["train_logloss"] == 0.37
    assert view.metric_history == {"train_logloss": [[0, 0.52], [1, 0.41], [2, 0.37]]}
    assert view.tags == {"team": "growth"} and view.code_version.get("git_commit")
    assert run.id in {r.id for r in training.list_runs(wb, SLUG)}

    # one audited event, signed by my registered key over the run's content
    with wb.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "run",
                                                         AuditEvent.entity_id == str(run.id))).one()
        payload = json.loads(event.payload)
    me = wb.signing_key()
    assert event.action == "run.logged" and payload["origin"] == "external" and payload["signer"] == me.fingerprint
    assert verify_statement(me.public_hex, payload["statement"], payload["signature"])
    assert f"run/{run.id}" in payload["row_hashes"]

    # compared with a built-in baseline on the same validation rows
    runner = JobRunner(WorkbenchLedger(wb))
    baseline = training.train(wb, runner, SLUG, "popularity_baseline")
    assert baseline.split_id == view.split_id
    verdict = comparison.compare_runs(wb, SLUG, baseline.id, run.id)
    assert verdict.significant and verdict.difference > 0

    # registered, approved by someone else's key, promoted, served
    version = registry.register_model(wb, SLUG, run.id, runner=runner)
    registry.write_model_card(wb, SLUG, version.version, registry.draft_model_card(wb, SLUG, version.version) | CARD)
    registry.confirm_model_card(wb, SLUG, version.version)
    validator = register_person(wb, "val.tracking", "validator")
    registry.record_approval(wb, SLUG, version.version, signer=validator, comment="beats the baseline")
    promotion.promote(wb, SLUG, version.version, reason="external candidate approved")
    production = next(v for v in registry.list_models(wb, SLUG) if v.stage == "production")
    assert production.run_id == run.id
    batch = X.head(20).assign(clicked=y[:20])
    source, out = wb.workspace.home / "batch.csv", wb.workspace.home / "scored.csv"
    batch.to_csv(source, index=False)
    serving.score_file(wb, SLUG, source, out)
    scored = pd.read_csv(out)
    expected = model.predict_proba(X.head(20))[:, 1]
    assert np.allclose(scored["score"].to_numpy(), expected, atol=1e-6)

    # the model card's draft says where it was trained and from which code version
    details = registry.draft_model_card(wb, SLUG, version.version)["model_details"]
    assert "trained outside the workbench" in details and view.code_version["git_commit"][:12] in details


def test_readme_script_with_lightgbm_end_to_end(demo_wb: Workbench) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    _readme_flow(demo_wb, lightgbm.LGBMClassifier(n_estimators=60, verbose=-1), {"n_estimators": 60})


def test_readme_flow_with_a_plain_scikit_learn_estimator(demo_wb: Workbench) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    _readme_flow(demo_wb, HistGradientBoostingClassifier(max_iter=60), {"max_iter": 60})


def test_xgboost_saves_through_its_allow_list(demo_wb: Workbench) -> None:
    xgboost = pytest.importorskip("xgboost")
    with mlwb.start_run(SLUG, workbench=demo_wb) as run:
        X, y = run.train_data()
        run.log_model(_encoded(xgboost.XGBClassifier(n_estimators=30, max_depth=3)).fit(X, y))
    assert run.view.environment["model_family"] == "xgboost" and run.metrics["val_roc_auc"] > 0.6


class HandRolled:
    """A model class skops has never heard of: on no family's allow-list."""

    def fit(self, X: object, y: object) -> HandRolled:
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(X))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.9", True, None])
def test_a_metric_that_is_not_a_finite_number_writes_nothing(demo_wb: Workbench, value: object) -> None:
    before = _counts(demo_wb)
    with pytest.raises(mlwb.BadMetric, match="accuracy"):
        with mlwb.start_run(SLUG, workbench=demo_wb) as run:
            run.log_metrics({"loss": 0.3, "accuracy": value})
    assert _counts(demo_wb) == before


def test_a_model_skops_cannot_save_safely_is_refused(demo_wb: Workbench) -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    before = _counts(demo_wb)
    for model, why in ((HandRolled(), "no model family's allow-list"),
                       (make_pipeline(FunctionTransformer(lambda x: x), HandRolled()), "safely|allow-list")):
        with pytest.raises(mlwb.UnsafeModelFile, match=why):
            with mlwb.start_run(SLUG, workbench=demo_wb) as run:
                run.log_model(model)
    with pytest.raises(mlwb.UnsafeModelFile, match="scikit-learn API"):
        mlwb.start_run(SLUG, workbench=demo_wb).log_model(object())
    assert _counts(demo_wb) == before


def test_a_dataset_of_another_project_is_refused(demo_wb: Workbench) -> None:
    projects.create_project(demo_wb, "other", problem_type="binary_classification")
    demo_dataset = datasets.list_datasets(demo_wb, SLUG)[0].number
    with pytest.raises(NotFound, match="project 'other' has no dataset 1"):
        mlwb.start_run("other", dataset=demo_dataset, workbench=demo_wb)


def test_a_run_logged_after_its_dataset_was_superseded_writes_nothing(demo_wb: Workbench, tmp_path: Path) -> None:
    latest = datasets.list_datasets(demo_wb, SLUG, role="training")[-1]
    with demo_wb.read() as session:
        from storage.models import DatasetVersion

        from app.ml.tabular import read_table

        frame = read_table(datasets.dataset_path(demo_wb, session.get(DatasetVersion, latest.id)))
    before = _counts(demo_wb)
    with pytest.raises(mlwb.DatasetSuperseded, match="superseded by dataset"):
        with mlwb.start_run(SLUG, workbench=demo_wb) as run:
            run.log_metrics({"loss": 0.3})
            newer = tmp_path / "newer.csv"
            frame.head(len(frame) - 10).to_csv(newer, index=False)
            datasets.import_dataset(demo_wb, SLUG, newer, target="clicked")
    runs_after, _ = _counts(demo_wb)
    assert runs_after == before[0]
    with pytest.raises(mlwb.DatasetSuperseded, match=f"dataset={latest.number + 1}"):
        mlwb.start_run(SLUG, dataset=latest.number, workbench=demo_wb)


def test_who_logs_is_proven_by_a_registered_key(demo_home: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    stranger = tmp_path / "stranger.key"
    write_private_key(stranger, new_signing_key())
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(stranger))
    monkeypatch.setenv("MLWB_USER", "ana.engineer")  # a name proves nothing
    bench = Workbench.open(Workspace(demo_home))
    try:
        with pytest.raises(mlwb.NotRegistered, match="not registered"):
            mlwb.start_run(SLUG, workbench=bench)
    finally:
        bench.close()


def test_no_active_run_and_bad_steps_are_clear_errors(demo_wb: Workbench) -> None:
    with pytest.raises(mlwb.TrackingError, match="no active run"):
        mlwb.log_metrics({"loss": 1.0})
    with pytest.raises(mlwb.TrackingError, match="whole number"):
        with mlwb.start_run(SLUG, workbench=demo_wb):
            mlwb.log_metrics({"loss": 1.0}, step=1.5)  # type: ignore[arg-type]
    with mlwb.start_run(SLUG, workbench=demo_wb) as run:
        mlwb.log_params({"estimator": HandRolled(), "depth": np.int64(3), "rate": np.float32(0.5)})
        mlwb.set_tags({"stage": "explore"})
    assert run.view.params["depth"] == 3 and run.view.params["rate"] == 0.5
    assert run.view.params["estimator"].startswith("<") and run.view.artifact_sha256 is None


def test_the_package_is_installed_as_mlwb(tmp_path: Path) -> None:
    """pyproject maps the top-level package `mlwb` to app/tracking; loaded under that name from
    that folder (as the editable and the wheel install do), it is the same API."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "mlwb" in config["packages"]
    folder = ROOT / config["package-dir"]["mlwb"]
    spec = importlib.util.spec_from_file_location("mlwb", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["mlwb"] = module
    try:
        spec.loader.exec_module(module)
        assert callable(module.start_run) and issubclass(module.BadMetric, module.WorkbenchError)
    finally:
        del sys.modules["mlwb"]
