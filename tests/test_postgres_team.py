"""Issue 15, part 3: a team on one PostgreSQL registry.

Two workspaces (two people's folders: their own signing keys, artifacts and head anchors) share
one PostgreSQL database, each person running ``mlwb`` as separate processes. The author trains
and registers on theirs; the validator, whose public key the author (admin) registered, approves
on theirs; the author cannot approve their own model; ``mlwb audit verify`` passes in both
workspaces. The team shares the audit key (the author's ``audit.key`` copied to the validator,
as the README says) and an artifacts folder (``artifacts`` of both homes is one folder).

Skipped without ``MLWB_TEST_DATABASE_URL`` (a PostgreSQL server; ``.ci/run`` starts one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.registries import ON_POSTGRESQL, url_of, use_registry
from tests.test_walk_cli import REPO, SLUG, check_passed, write_cancer_csvs

pytestmark = [
    pytest.mark.skipif(not ON_POSTGRESQL, reason="needs a PostgreSQL server: set MLWB_TEST_DATABASE_URL="
                       "postgresql+psycopg://USER@HOST:PORT/postgres (a role that may CREATE DATABASE)"),
    pytest.mark.long,
]


class Person:
    """One person's ``mlwb``: their workspace folder, the team's shared registry URL."""

    def __init__(self, home: Path, registry: str) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if k != "MLWB_SIGNING_KEY"}
        self.env |= {"MLWB_HOME": str(home), "MLWB_DATABASE_URL": registry, "PYTHONPATH": str(REPO),
                     "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}

    def call(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *map(str, args)], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=180)

    def run(self, *args: str | Path) -> str:
        done = self.call(*args)
        assert done.returncode == 0, f"mlwb {' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        return done.stdout

    def json(self, *args: str | Path) -> Any:
        return json.loads(self.run(*args, "--json"))


def test_author_and_validator_on_two_workspaces_share_one_postgresql_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    training_csv, _ = write_cancer_csvs(tmp_path / "data")
    use_registry(monkeypatch, tmp_path / "registry")  # one fresh database for the team
    registry = url_of(tmp_path / "registry")
    shared_artifacts = tmp_path / "team-artifacts"  # a shared folder (a network mount in real life)
    shared_artifacts.mkdir()
    homes = {name: tmp_path / name for name in ("author", "validator")}
    for home in homes.values():
        home.mkdir()
        (home / "artifacts").symlink_to(shared_artifacts)
    author, validator = Person(homes["author"], registry), Person(homes["validator"], registry)

    # The author opens the registry first (its first admin); the validator joins with the team's
    # audit key and their own signing key, which the author registers.
    assert author.json("people", "init", "--name", "ana")["person"]["role"] == "admin"
    shutil.copy2(homes["author"] / "audit.key", homes["validator"] / "audit.key")
    joined = validator.json("people", "init")
    assert joined["person"] is None and joined["created"] is True
    registered = author.json("people", "add", "val", "--public-key", joined["public_file"], "--role", "validator")
    assert registered["fingerprint"] == joined["fingerprint"]
    assert validator.json("people", "whoami")["person"]["name"] == "val"

    # The author carries the project to a registered model with a complete card.
    author.run("projects", "new", SLUG, "--problem-type", "binary_classification", "--maturity", "growth")
    author.json("statement", SLUG,
                "--set", "objective=Flag aspirates for a second read", "--set", "stakeholders_gain=patients",
                "--set", "stakeholders_lose=nobody", "--set", "business_metric=missed cases per 100",
                "--set", "ml_metric=roc_auc", "--set", "ml_metric_threshold=0.95",
                "--set", "feasibility_data=469 biopsies", "--set", "feasibility_regulation=decision support",
                "--set", "feasibility_timeline=a quarter", "--set", "feasibility_budget=one engineer",
                "--set", "baseline_heuristic=the majority class")
    author.json("checklist", SLUG, *[arg for item in ("pattern_exists", "data_available", "errors_tolerable",
                                                      "rules_insufficient", "feedback_available")
                                     for arg in ("--answer", f"{item}=yes")])
    author.json("advance", SLUG)
    dataset = author.json("data", "import", SLUG, training_csv, "--target", "target")
    author.json("frame", SLUG, "--target", "target", "--set", "label_strategy=histology",
                "--set", "cold_start=none", "--set", "temporal_aspects=none", "--set", "proxy_metrics=none",
                "--infer-from", str(dataset["id"]))
    assert author.json("frame", SLUG, "--confirm", "--drop", "patient_id")["gate"]["passed"]
    author.json("advance", SLUG)
    author.run("data", "split", SLUG, "--strategy", "stratified", "--seed", "7")
    author.json("advance", SLUG)
    baseline = author.json("train", SLUG, str(dataset["id"]), "--model", "majority_baseline")
    candidate = author.json("train", SLUG, str(dataset["id"]), "--model", "logistic_regression")
    author.json("train", SLUG, str(dataset["id"]), "--model", "decision_tree")  # the gate wants two candidates
    assert author.json("compare", SLUG, str(baseline["run"]), str(candidate["run"]))["significant"]
    v = str(author.json("models", SLUG, "--register", str(candidate["run"]))["version"])
    author.json("card", SLUG, v, "--set", "intended_use=decision support", "--set", "factors=none",
                "--set", "ethical_considerations=a missed flag delays a diagnosis", "--set", "caveats=one clinic")
    assert author.json("card", SLUG, v, "--confirm")["complete"]
    author.json("advance", SLUG)
    assert author.json("request-review", SLUG, v, "--reviewer", "val", "--comment", "please check")["status"] == "open"

    # Four eyes: the author's own key cannot approve their model, from any workspace.
    refused = author.call("approve", SLUG, v, "--comment", "looks fine to me")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "cannot approve or reject it" in refused.stderr and "four-eyes" in refused.stderr, refused.stderr

    # The validator, on their own workspace, sees the author's model and approves it with their key.
    assert [m["version"] for m in validator.json("models", SLUG)] == [int(v)]
    approval = validator.json("approve", SLUG, v, "--comment", "numbers and card checked")
    assert (approval["approver"], approval["signer_fingerprint"]) == ("val", joined["fingerprint"])
    author.run("monitor", "sla", SLUG, "--add", "roc_auc>=0.9")
    gate = author.json("release-gate", SLUG, v)
    assert gate["passed"] and check_passed(gate, "independent_approval")

    # One chain, written by both: it verifies from either workspace.
    for person in (author, validator):
        verified = person.run("audit", "verify")
        assert verified.startswith("audit chain OK"), verified
    assert author.run("audit", "verify").splitlines()[0] == validator.run("audit", "verify").splitlines()[0]
