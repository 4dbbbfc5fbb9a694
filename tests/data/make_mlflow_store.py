"""Write the two MLflow tracking stores ``tests/test_mlflow_import.py`` imports, with MLflow's own
writer, and ``expected.json``: what this script logged (the run ids MLflow chose included), so the
test checks the round trip against the writer, not against our reading of it.

MLflow is never a dependency of the workbench, not even of its tests: this script runs in a
throwaway virtual environment and its output is committed under ``tests/data/mlflow/``::

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install 'mlflow>=3,<4' scikit-learn
    /tmp/mlflow-venv/bin/python tests/data/make_mlflow_store.py tests/data/mlflow

Both stores hold the same story: two experiments, three finished runs with params, metric
histories (steps) and tags, a sklearn model logged by two of them (MLflow pickles it), a
registered model ``churn-classifier`` with two versions and the alias ``champion`` on version 2,
and one deleted run the import must skip.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import sys
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
# MLflow 3 keeps the file store in maintenance mode and refuses it unless asked; the import reads
# the folders people already have, so the fixture writes one.
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"

RUNS = [
    {"experiment": "churn-baselines", "name": "logreg-c1",
     "params": {"C": "1.0", "max_iter": "200", "penalty": "l2"},
     "history": {"train_loss": [0.69, 0.52, 0.47, 0.45], "val_accuracy": [0.61, 0.68, 0.7]},
     "metrics": {"val_f1": 0.64}, "tags": {"team": "growth", "purpose": "baseline"}, "model": "cloudpickle"},
    {"experiment": "churn-baselines", "name": "logreg-c01",
     "params": {"C": "0.1", "max_iter": "200", "penalty": "l2"},
     "history": {"train_loss": [0.69, 0.58, 0.55], "val_accuracy": [0.6, 0.66]},
     "metrics": {"val_f1": 0.61}, "tags": {"team": "growth"}, "model": False},
    {"experiment": "churn-trees", "name": "tree-depth4",
     "params": {"max_depth": "4", "min_samples_leaf": "20"},
     "history": {"train_loss": [0.66, 0.5, 0.41, 0.38, 0.36]},
     "metrics": {"val_accuracy": 0.73, "val_f1": 0.69}, "tags": {"team": "risk", "purpose": "candidate"},
     "model": "skops"},
]
MODEL_NAME = "churn-classifier"


def _model(kind: str):
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    return (DecisionTreeClassifier(max_depth=4) if kind == "tree" else LogisticRegression()).fit(X, y)


def write_store(uri: str, artifact_root: Path | None) -> dict:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    experiments = {}
    for name in dict.fromkeys(r["experiment"] for r in RUNS):
        experiments[name] = client.create_experiment(
            name, artifact_location=(artifact_root / name).as_uri() if artifact_root else None)
    written, model_runs = [], []
    for spec in RUNS:
        with mlflow.start_run(experiment_id=experiments[spec["experiment"]], run_name=spec["name"]) as run:
            mlflow.log_params(spec["params"])
            for key, values in spec["history"].items():
                for step, value in enumerate(values):
                    mlflow.log_metric(key, value, step=step)
            for key, value in spec["metrics"].items():
                mlflow.log_metric(key, value)
            mlflow.set_tags(spec["tags"])
            if spec["model"]:
                # MLflow 3.17 saves scikit-learn models with skops by default; MLflow 2 pickled
                # them (cloudpickle), as most stores people already have do: one of each.
                kind = "tree" if "tree" in spec["name"] else "logreg"
                options = ({"skops_trusted_types": ["sklearn.tree._tree.Tree"]} if kind == "tree"
                           else {"serialization_format": "cloudpickle"})
                info = mlflow.sklearn.log_model(_model(kind), name="model", **options)
                model_runs.append((run.info.run_id, info.model_uri))
        written.append({**spec, "run_id": run.info.run_id, "experiment_id": experiments[spec["experiment"]]})
    with mlflow.start_run(experiment_id=experiments["churn-trees"], run_name="abandoned") as run:
        mlflow.log_param("max_depth", "9")
    client.delete_run(run.info.run_id)
    deleted = run.info.run_id

    client.create_registered_model(MODEL_NAME, description="churn model of the growth team")
    versions = []
    for run_id, model_uri in model_runs:
        mv = client.create_model_version(MODEL_NAME, model_uri, run_id=run_id)
        versions.append({"version": int(mv.version), "run_id": run_id})
    client.set_registered_model_alias(MODEL_NAME, "champion", "2")
    return {"runs": written, "deleted_run_id": deleted, "model": {
        "name": MODEL_NAME, "versions": versions, "aliases": {"champion": 2}}}


def main(out: Path) -> None:
    import mlflow

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    expected = {"mlflow_version": mlflow.__version__}
    # A file store: meta.yaml, params/, metrics/, tags/, the models, the registry under models/.
    expected["file"] = write_store((out / "mlruns").as_uri(), None)
    # A SQLite store (MLflow's SQLAlchemy schema); its artifacts are not needed by the import.
    db = out / "mlflow.db"
    expected["sqlite"] = write_store(f"sqlite:///{db}", out / "sqlite-artifacts")
    shutil.rmtree(out / "sqlite-artifacts", ignore_errors=True)
    with sqlite3.connect(db) as connection:
        connection.execute("VACUUM")
    # MLflow's schema has some sixty tables (traces, gateways...): 900 KB of mostly empty pages,
    # 25 KB gzipped; the test unpacks it into its temporary folder.
    with open(db, "rb") as raw, gzip.GzipFile(out / "mlflow.db.gz", "wb", compresslevel=9, mtime=0) as packed:
        shutil.copyfileobj(raw, packed)
    db.unlink()
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "mlflow").resolve())
