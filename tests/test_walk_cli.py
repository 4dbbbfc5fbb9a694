"""Issue 13, "done when": a brand-new project carried from ``projects new`` to a monitored
production model with nothing but ``mlwb`` verbs, on the breast-cancer data a new user tried.

Every step is a ``python -m app.cli …`` subprocess in a fresh workspace, as a person types it;
values are read from ``--json`` where the verb offers it, and the registry is read back through
the verbs too (``models --json``, ``gate --json``), never by opening the database here. The second
person (the validator) makes their key with the same verb on the same machine
(``MLWB_SIGNING_KEY=val.key mlwb people init``) and signs the approval with ``--key``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.registries import registry_env

REPO = Path(__file__).resolve().parents[1]
SLUG = "cancer"


def write_cancer_csvs(folder: Path) -> tuple[Path, Path]:
    """The breast-cancer data (569 rows, shipped with scikit-learn) as the training file (469 rows,
    with a patient id and the target) and a later production batch (the other 100 rows, features
    only, ``mean radius`` read 30 % high as if a scanner were recalibrated)."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame.insert(0, "patient_id", range(1, len(frame) + 1))
    training, batch = frame.iloc[:469], frame.iloc[469:].drop(columns="target").copy()
    batch["mean radius"] = batch["mean radius"] * 1.3
    folder.mkdir(parents=True, exist_ok=True)
    training.to_csv(folder / "cancer.csv", index=False)
    batch.to_csv(folder / "batch.csv", index=False)
    return folder / "cancer.csv", folder / "batch.csv"


class Mlwb:
    """``mlwb`` as a person runs it in one workspace: each call a new process."""

    def __init__(self, home: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if k not in ("MLWB_SIGNING_KEY", "MLWB_DATABASE_URL")}
        self.env |= {"MLWB_HOME": str(home), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
                     "PYTHONPATH": str(REPO)} | registry_env(home)

    def run(self, *args: str | Path, key: Path | None = None) -> str:
        env = self.env | ({"MLWB_SIGNING_KEY": str(key)} if key is not None else {})
        done = subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"mlwb {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout

    def json(self, *args: str | Path, key: Path | None = None) -> Any:
        """A verb with ``--json``: its stdout is one JSON document and nothing else."""
        return json.loads(self.run(*args, "--json", key=key))


def test_people_init_with_a_named_key_keeps_the_owners_public_key(tmp_path: Path) -> None:
    """A second person on the same machine runs ``MLWB_SIGNING_KEY=val.key mlwb people init``:
    their public key is written beside their key file (val.pub), and the workspace owner's
    ``signing.pub`` is left alone (it used to be overwritten with the validator's key)."""
    mlwb = Mlwb(tmp_path / "home")
    mine = mlwb.json("people", "init", "--name", "me")
    assert mine["person"]["role"] == "admin" and mine["registered_now"] is True
    owner_pub = (tmp_path / "home" / "signing.pub").read_text()
    theirs = mlwb.json("people", "init", key=tmp_path / "val.key")
    assert theirs["person"] is None and theirs["created"] is True
    assert theirs["public_file"] == str(tmp_path / "val.pub")
    assert (tmp_path / "val.pub").read_text().strip() == theirs["public_key"]
    assert (tmp_path / "home" / "signing.pub").read_text() == owner_pub
    said = mlwb.run("people", "init", key=tmp_path / "val.key")
    assert f"send {tmp_path / 'val.pub'} to an admin" in said and "--public-key val.pub" in said


def check_passed(gate: dict[str, Any], check_id: str) -> bool:
    return next(c for c in gate["checks"] if c["id"] == check_id)["passed"]


@pytest.mark.long
def test_a_new_project_from_idea_to_monitored_production_with_cli_verbs_only(tmp_path: Path) -> None:
    training_csv, batch_csv = write_cancer_csvs(tmp_path / "data")
    mlwb = Mlwb(tmp_path / "home")
    val_key = tmp_path / "val" / "val.key"
    val_key.parent.mkdir()

    # People: I am the first (admin); the validator makes a key and I register its public half.
    assert mlwb.json("people", "init", "--name", "me")["person"]["role"] == "admin"
    val = mlwb.json("people", "init", key=val_key)
    assert val["person"] is None
    registered = mlwb.json("people", "add", "val", "--public-key", val["public_file"], "--role", "validator")
    assert registered["fingerprint"] == val["fingerprint"]

    # The workspace already holds another project with a dataset and a run, so the ids the
    # registry gives this walk's rows are not 1; what a person types here are the numbers
    # within the project (issue 13 point 8), as the README's walk shows them.
    mlwb.run("projects", "new", "other", "--problem-type", "binary_classification")
    mlwb.run("data", "import", "other", training_csv, "--target", "target")
    mlwb.run("frame", "other", "--target", "target", "--infer-from", "1")
    mlwb.run("frame", "other", "--confirm")
    mlwb.run("data", "split", "other")
    assert mlwb.json("train", "other", "1", "--model", "majority_baseline")["number"] == 1

    # Stage 1: the problem statement and the "is ML appropriate?" checklist.
    assert "created at stage 1" in mlwb.run("projects", "new", SLUG, "--problem-type", "binary_classification",
                                            "--maturity", "growth", "--name", "Breast cancer triage")
    statement = mlwb.json(
        "statement", SLUG,
        "--set", "objective=Flag fine-needle aspirates that need a second pathologist read",
        "--set", "stakeholders_gain=patients, pathologists",
        "--set", "stakeholders_lose=nobody: a flag only adds a review",
        "--set", "business_metric=missed malignant cases per 100 biopsies",
        "--set", "ml_metric=roc_auc", "--set", "ml_metric_threshold=0.95",
        "--set", "feasibility_data=469 labelled biopsies", "--set", "feasibility_regulation=decision support only",
        "--set", "feasibility_timeline=one quarter", "--set", "feasibility_budget=one engineer",
        "--set", "baseline_heuristic=the majority class")
    assert check_passed(statement["gate"], "statement_complete") and not statement["gate"]["passed"]
    checklist = mlwb.json("checklist", SLUG, *[arg for item in ("pattern_exists", "data_available", "errors_tolerable",
                                                                "rules_insufficient", "feedback_available")
                                               for arg in ("--answer", f"{item}=yes")])
    assert checklist["gate"]["passed"]
    assert mlwb.json("advance", SLUG) == {"project": SLUG, "stage": 2}

    # Stage 2: the data, then the framing proposed from it and confirmed by a person.
    dataset = mlwb.json("data", "import", SLUG, training_csv, "--target", "target")
    assert (dataset["rows"], dataset["target"], dataset["number"]) == (469, "target", 1) and dataset["id"] == 2
    framing = mlwb.json("frame", SLUG, "--target", "target",
                        "--set", "label_strategy=histology of the biopsy (0 malignant, 1 benign)",
                        "--set", "cold_start=none: every aspirate has all 30 measurements",
                        "--set", "temporal_aspects=none", "--set", "proxy_metrics=none",
                        "--infer-from", "1")
    proposed = {p["name"]: p for p in framing["proposed"]}
    assert len(proposed) == 31 and proposed["patient_id"]["pii"] is True and not framing["gate"]["passed"]
    framing = mlwb.json("frame", SLUG, "--confirm", "--drop", "patient_id")  # confirmed first, then dropped
    assert len(framing["confirmed"]) == 31
    assert len(framing["framing"]["features"]) == 30 and framing["gate"]["passed"]
    assert mlwb.json("advance", SLUG)["stage"] == 3

    # Stage 3: a stratified split with its leakage checks.
    assert "train_test_overlap 0" in mlwb.run("data", "split", SLUG, "--strategy", "stratified", "--seed", "7")
    assert mlwb.json("advance", SLUG)["stage"] == 4

    # Stage 4: a baseline and two candidates, compared; the best registered with a card.
    assert {m.split("\t")[0] for m in mlwb.run("models-available").splitlines()} >= {
        "majority_baseline", "logistic_regression", "decision_tree"}
    runs = {kind: mlwb.json("train", SLUG, "1", "--model", kind)
            for kind in ("majority_baseline", "logistic_regression", "decision_tree")}
    baseline, candidate = runs["majority_baseline"], runs["logistic_regression"]
    assert [r["number"] for r in runs.values()] == [1, 2, 3] and baseline["run"] == 2  # the README's numbers
    assert candidate["validation"]["val_roc_auc"] > 0.95 > baseline["validation"]["val_roc_auc"]
    comparison = mlwb.json("compare", SLUG, "1", "2")
    assert comparison["significant"] and comparison["metric"] == "roc_auc" and comparison["p_value"] < 0.05
    assert (comparison["run_a"], comparison["run_b"]) == (baseline["run"], candidate["run"])
    version = mlwb.json("models", SLUG, "--register", "2")
    v = str(version["version"])
    assert version["model_kind"] == "logistic_regression" and version["stage"] == "none"
    card = mlwb.json("card", SLUG, v,
                     "--set", "intended_use=decision support: flag aspirates for a second read",
                     "--set", "factors=no demographic columns in the data",
                     "--set", "ethical_considerations=a missed flag delays a diagnosis; the model never clears a case",
                     "--set", "caveats=469 biopsies from one clinic; recalibrate before use elsewhere")
    assert not card["complete"]  # the registry's evidence drafts are not a person's statement yet
    assert mlwb.json("card", SLUG, v, "--confirm")["complete"]
    assert mlwb.json("gate", SLUG)["passed"]
    assert mlwb.json("advance", SLUG)["stage"] == 5

    # Stage 5: review by the second person (signed with their key), the release gate, promotion.
    request = mlwb.json("request-review", SLUG, v, "--reviewer", "val", "--comment", "please check the card")
    assert request["status"] == "open"
    approval = mlwb.json("approve", SLUG, v, "--comment", "numbers and card checked", "--key", val_key)
    assert (approval["approver"], approval["signer_fingerprint"]) == ("val", val["fingerprint"])
    mlwb.run("monitor", "sla", SLUG, "--add", "roc_auc>=0.9")  # monitoring configured before production
    release_gate = mlwb.json("release-gate", SLUG, v)
    assert release_gate["passed"] and check_passed(release_gate, "independent_approval")
    assert check_passed(release_gate, "monitoring_configured")
    promoted = mlwb.json("promote", SLUG, v, "--stage", "production", "--reason", "beats the majority baseline")
    assert promoted["passed"] and promoted["stage"] == "production"
    assert mlwb.json("models", SLUG)[0]["stage"] == "production"
    assert mlwb.json("advance", SLUG)["stage"] == 6

    # Stage 6: a production batch, its drift analysed; the shifted feature drifts and alerts.
    drift = mlwb.run("monitor", "import", SLUG, batch_csv, "--label", "2026-12", "--id-column", "patient_id")
    assert "100 rows for model version 1" in drift  # stored, then analysed in a worker
    assert next(line for line in drift.splitlines() if line.strip().startswith("mean radius")).endswith("DRIFT")
    listing = mlwb.run("monitor", "list", SLUG)
    assert "critical" in listing and "mean radius" in listing
    assert mlwb.json("gate", SLUG)["passed"]  # the last stage's gate: batches analysed, alerts triggered
    assert mlwb.run("audit", "verify").startswith("audit chain OK")
