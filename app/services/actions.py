"""Every action a person takes on a workspace, with its two faces: the ``mlwb`` verb and the TUI key.

Issue 13 asks that neither face be needed to finish what the other started: each service
action a person takes has a CLI verb with ``--json`` output and a TUI action (bound with a
description, so the footer, F1 and the command palette list it). This module is the one list
of those actions; ``tests/test_action_parity.py`` walks it against the real argparse parser
and the real ``Binding`` declarations of every screen, and fails when an action lacks a face.
It also walks the services the other way: a public service function that writes (opens a
unit of work) is either listed here or named in ``NOT_PERSON_ACTIONS`` with the reason.

The records are plain data (the service is named by its dotted path, not imported) so the TUI
can read the names for its command palette without loading every service module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PersonAction:
    """One thing a person does, in the lifecycle's words.

    ``service`` is ``"module:function"`` under ``app.services`` (the function that decides and
    audits); ``cli`` the words of the ``mlwb`` verb (``("release", "shadow")``) and ``cli_flags``
    the options that select this action on a verb shared by several (``("--reject",)`` on
    ``approve``); ``tui`` the ``Binding`` id that runs it (``"release.approve"``). ``stage`` is
    the lifecycle stage (1–6) the action belongs to, 0 for the workspace as a whole.
    """

    name: str
    stage: int
    service: str
    cli: tuple[str, ...]
    tui: str
    cli_flags: tuple[str, ...] = ()

    @property
    def verb(self) -> str:
        """What a person types, e.g. ``mlwb card PROJECT VERSION --set`` (for messages and docs)."""
        return "mlwb " + " ".join(self.cli + self.cli_flags)

    def resolve(self) -> Callable[..., Any]:
        """The service function itself (imports its module)."""
        module, _, function = self.service.partition(":")
        return getattr(importlib.import_module(f"app.services.{module}"), function)


A = PersonAction

PERSON_ACTIONS: tuple[PersonAction, ...] = (
    # --- the workspace and its people ------------------------------------------------------------
    A("Create a project", 1, "projects:create_project", ("projects", "new"), "dashboard.new_project"),
    A("Change a project's maturity profile", 1, "projects:set_maturity", ("projects", "maturity"),
      "project.maturity"),
    A("Set a project's risk tier and owner", 1, "projects:set_inventory", ("projects", "set"), "project.inventory"),
    A("Create my signing key", 0, "people:init_me", ("people", "init"), "people.init"),
    A("Register a person's key with a role", 0, "people:add_person", ("people", "add"), "people.add"),
    A("Rotate the audit key", 0, "audit_key:rotate_key", ("audit", "rotate-key"), "audit.rotate_key"),
    # --- stages 1 and 2: the problem statement, the checklist, the framing --------------------------
    A("Write the problem statement", 1, "deliverables:save_problem_statement", ("statement",), "project.edit"),
    A("Answer the ML-appropriateness checklist", 1, "deliverables:save_ml_checklist", ("checklist",),
      "project.edit"),
    A("Write the framing and feature spec", 2, "deliverables:save_framing", ("frame",), "project.edit"),
    A("Propose features from a dataset's profile", 2, "deliverables:propose_features", ("frame",),
      "project.propose_features", cli_flags=("--infer-from",)),
    A("Confirm proposed features", 2, "deliverables:confirm_proposals", ("frame",), "project.confirm_proposals",
      cli_flags=("--confirm",)),
    A("Apply a project file (stage 1-2 documents as TOML)", 2, "project_file:apply_project_file",
      ("project", "apply"), "project.apply_file"),
    A("Advance the project through its stage gate", 0, "gates:advance_stage", ("advance",), "project.advance"),
    # --- stage 3: data -------------------------------------------------------------------------------
    A("Import a dataset version", 3, "datasets:import_dataset", ("data", "import"), "data.import"),
    A("Split a dataset (with leakage checks)", 3, "datasets:create_split", ("data", "split"), "data.split"),
    # --- stage 4: model development ------------------------------------------------------------------
    A("Train a model", 4, "training:train", ("train",), "runs.train"),
    A("Import runs and registered versions from MLflow", 4, "mlflow_import:import_mlflow", ("import", "mlflow"),
      "data.import_mlflow"),
    A("Compare two runs (significance test)", 4, "comparison:compare_runs", ("compare",), "runs.compare"),
    A("Compare two runs with the 5×2cv test", 4, "comparison:five_by_two", ("compare",), "runs.compare_5x2cv",
      cli_flags=("--5x2cv",)),
    A("Analyse a run's errors (segments, fairness)", 4, "error_analysis:analyse_run", ("analyse",), "runs.analyse"),
    A("Open the sealed test set for a run", 4, "evaluation:score_on_test", ("evaluate",), "runs.test_set"),
    A("Reproduce a run", 4, "evaluation:reproduce_run", ("runs",), "runs.reproduce"),
    A("Register a run as a model version", 4, "registry:register_model", ("models",), "runs.register",
      cli_flags=("--register",)),
    A("Write model card sections", 4, "registry:write_model_card", ("card",), "release.card", cli_flags=("--set",)),
    A("Confirm the registry's drafted card sections (signed)", 4, "registry:confirm_model_card", ("card",),
      "release.card", cli_flags=("--confirm",)),
    # --- stage 5: release ----------------------------------------------------------------------------
    A("Ask for a review of a model version", 5, "registry:request_review", ("request-review",), "release.ask_review"),
    A("Approve a model version (signed)", 5, "registry:record_approval", ("approve",), "release.approve"),
    A("Reject a model version (signed)", 5, "registry:record_approval", ("approve",), "release.reject",
      cli_flags=("--reject",)),
    A("Record a waiver for a release check", 5, "promotion:waive", ("waive",), "release.waive"),
    A("Make a version the challenger", 5, "promotion:set_alias", ("alias",), "release.challenger"),
    A("Promote a model version through the release gate", 5, "promotion:promote", ("promote",), "release.promote"),
    A("Roll production back to an earlier version", 5, "promotion:rollback", ("rollback",), "release.rollback"),
    A("Run the shadow analysis", 5, "release_analysis:analyse_shadow", ("release", "shadow"), "release.analyse"),
    A("Run the canary analysis", 5, "release_analysis:analyse_canary", ("release", "canary"), "release.analyse"),
    A("Run the A/B test analysis", 5, "release_analysis:analyse_ab_test", ("release", "ab"), "release.analyse"),
    A("Raise a finding", 5, "findings:record_finding", ("findings", "add"), "findings.new"),
    A("Move a finding to another status (signed)", 5, "findings:set_status", ("findings", "set"),
      "findings.set_status"),
    A("Import a validator's signed review", 5, "review_import:import_review", ("review", "import"),
      "release.import_review"),
    A("Export the evidence bundle (signed)", 5, "evidence_bundle:export_bundle", ("export",), "release.export_bundle"),
    A("Build a PDF report", 0, "report_builder:build_report", ("report",), "reports.build"),
    # --- stage 6: monitoring -------------------------------------------------------------------------
    A("Import a monitoring batch", 6, "monitoring_batches:import_batch", ("monitor", "import"), "monitoring.import_batch"),
    A("Collect a batch from the prediction log", 6, "monitoring_batches:batch_from_predictions",
      ("monitor", "collect"), "monitoring.collect"),
    A("Attach delayed labels to a batch", 6, "monitoring_analysis:attach_labels", ("monitor", "labels"),
      "monitoring.labels"),
    A("Attach delayed labels to logged requests", 6, "monitoring_batches:label_predictions",
      ("monitor", "label-log"), "monitoring.label_log"),
    A("Analyse a batch for drift", 6, "monitoring_analysis:analyse_batch", ("monitor", "analyse"),
      "monitoring.analyse"),
    A("Resolve an alert", 6, "monitoring_alerts:resolve_alert", ("monitor", "resolve"), "monitoring.resolve_alert"),
    A("Add an SLA rule", 6, "monitoring_policy:add_sla_rule", ("monitor", "sla"), "monitoring.sla_rules",
      cli_flags=("--add",)),
    A("Remove an SLA rule", 6, "monitoring_policy:remove_sla_rule", ("monitor", "sla"), "monitoring.sla_rules",
      cli_flags=("--remove",)),
    A("Set a drift threshold", 6, "monitoring_policy:set_drift_threshold", ("monitor", "threshold"),
      "monitoring.thresholds"),
    A("Set the retraining schedule", 6, "monitoring_policy:set_retraining_schedule", ("monitor", "schedule"),
      "monitoring.schedule"),
    A("Retrain the production model", 6, "retraining:retrain", ("retrain",), "monitoring.retrain"),
    A("Revise the framing because of an alert (back to stage 2)", 6, "monitoring_alerts:revise_framing",
      ("monitor", "revise-framing"), "monitoring.revise_framing"),
)

#: Service functions that write (open a unit of work) but are not something a person decides,
#: with the reason; the parity test accepts them without faces. ``module:function``. (The demo,
#: ``demo:run_demo``, writes only through the person actions above, so it needs no entry.)
NOT_PERSON_ACTIONS: dict[str, str] = {
    # Job bookkeeping: the runner records its own jobs' states; a person cancels a job on the jobs
    # screen (c) or with Ctrl-C in the CLI, which is the runner's signal, not a service call.
    "jobs:create_job": "internal: job bookkeeping done by the job runner",
    "jobs:mark_running": "internal: job bookkeeping done by the job runner",
    "jobs:mark_failed": "internal: job bookkeeping done by the job runner",
    "jobs:mark_cancelled": "internal: job bookkeeping done by the job runner",
    "jobs:recover_interrupted": "internal: run by every face when it opens the workspace",
    # Pieces of a person action, called by the service that carries it.
    "training:record_run": "internal: the second half of train (and of runs logged through the tracking API)",
    # The third face: a person's own training code logs its run through `import mlwb`, signed by
    # their registered key; neither a verb nor a key would have the model object to log.
    "external_runs:record_run": "the tracking API: `with mlwb.start_run(...)` in the person's own training code",
    "retraining:request_retraining": "internal: the trigger retrain opens when a person retrains on demand",
    "retraining:prepare_candidate": "internal: the second half of retrain (re-scores, compares, registers)",
    "comparison:rescore_run": "internal: retrain re-scores the baseline and the champion on the new split",
    # Operations, not governance decisions: a deployment pipeline runs them (`mlwb score`, and
    # `mlwb retrain --scheduled` from cron); they change no decision a reviewer signs.
    "serving:score_file": "operations: batch scoring by a pipeline, logged like served requests",
    "retraining:run_due_schedule": "operations: run from cron by `mlwb retrain --scheduled`",
}


def action_for_binding(binding_id: str) -> list[PersonAction]:
    """The person actions a TUI binding runs (the command palette names them)."""
    return [a for a in PERSON_ACTIONS if a.tui == binding_id]
