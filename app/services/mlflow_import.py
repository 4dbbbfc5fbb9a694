"""Import runs and registry facts from an MLflow tracking store (``mlwb import mlflow``).

An MLflow run becomes a run like one logged through ``mlwb`` (``app.services.external_runs``:
the same plan, the same writer, origin "external", signed by the importer's registered key),
with these decisions, each said in the run itself (``environment.imported_from``, and the sentence
``external_runs.trained_outside`` prints in reports):

- *Metrics* keep their history (every step), under MLflow's names prefixed ``mlflow.``: they were
  computed by MLflow on data the workbench did not see, so they must not sort beside the
  workbench's own ``val_*`` scores as if comparable. Comparing needs a re-score, which needs a
  model.
- *Models* are never loaded: MLflow 2 pickled scikit-learn models (cloudpickle), and loading a
  pickle runs code. MLflow 3 defaults to skops, but a model trained on another feature set would
  not score on this project's validation rows either, so no MLflow model file is imported; the
  run says how MLflow stored it. To register a model, log it through ``mlwb`` (skops, re-scored).
- *Registered model versions* are recorded as imported registry facts (name, version, aliases,
  source run), one audited ``mlflow.model_version_imported`` event each, linked to the imported
  run; they are not workbench model versions, so nothing without a model file can be approved
  or promoted.
- *Data*: the runs are filed under the project's dataset (default its newest training data) and
  that dataset's newest split, because a run belongs to one; the note says the metrics were not
  computed on it.
- *Idempotent* by MLflow id: a run already imported (its ``run_id`` in a ``run.imported`` event of
  the project) or a version already recorded (name, version, source run, same aliases) is
  counted, not written again. Everything new is written in one unit of work: all or nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
from app.services.external_runs import DatasetSuperseded, LoggedRun, plan_run, write_run
from app.services.mlflow_store import MlflowRun, MlflowStore, read_store
from app.services.workbench import Workbench, find_project
from storage.models import AuditEvent, DatasetVersion, Run

SYSTEM = "mlflow"
METRIC_PREFIX = "mlflow."
RUN_EVENT = "run.imported"
VERSION_EVENT = "mlflow.model_version_imported"
PICKLE_NOTE = "model not imported: MLflow stored it as a pickle, which the workbench does not load"
UNFINISHED = ("RUNNING", "SCHEDULED")


def model_note(run: MlflowRun) -> str:
    """What became of the run's MLflow model(s), in words a report can print."""
    if not run.models:
        return "no model was logged in MLflow"
    notes = []
    for model in run.models:
        if model.serialization_format in ("pickle", "cloudpickle"):
            notes.append(PICKLE_NOTE)
        elif model.serialization_format:
            notes.append(f"model not imported: MLflow stored it as {model.serialization_format} "
                         f"({', '.join(model.flavors) or 'unknown flavor'}); the workbench imports no MLflow model "
                         "files (a model trained on other features would not score on this project's rows): "
                         "log it through `mlwb` to register it")
        else:
            notes.append("model not imported: its MLmodel file is not in the store, so how MLflow stored it is "
                         "unknown; the workbench imports no MLflow model files")
    return "; ".join(dict.fromkeys(notes))


@dataclass(frozen=True)
class ImportedRun:
    mlflow_run_id: str
    name: str | None
    experiment: str
    run_number: int | None  # the workbench's number of the run (new or imported before)
    new: bool
    model_note: str


@dataclass(frozen=True)
class ImportedVersion:
    """A registered model version as MLflow had it: a fact, not a workbench model version."""

    name: str
    version: int
    aliases: tuple[str, ...]
    mlflow_run_id: str | None
    run_number: int | None  # the imported run it came from, if that run is in the workspace
    new: bool
    aliases_before: tuple[str, ...] | None = None  # recorded again because its aliases moved in MLflow


@dataclass(frozen=True)
class MlflowImport:
    project: str
    store: str
    store_kind: str
    dataset_number: int | None
    split_id: int
    runs: list[ImportedRun] = field(default_factory=list)
    versions: list[ImportedVersion] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        new_runs = sum(r.new for r in self.runs)
        new_versions = sum(v.new for v in self.versions)
        moved = sum(v.aliases_before is not None for v in self.versions)
        return (f"runs: {new_runs} new, {len(self.runs) - new_runs} already imported; registered model versions: "
                f"{new_versions} new{f' ({moved} with moved aliases)' if moved else ''}, "
                f"{len(self.versions) - new_versions} already imported")


def _imported_before(session: Any, slug: str) -> tuple[dict[str, int], dict[tuple[str, int, str | None], tuple]]:
    """From the project's audit trail: MLflow run id -> workbench run id, and each recorded
    version (name, version, source run) -> the aliases recorded last."""
    runs: dict[str, int] = {}
    versions: dict[tuple[str, int, str | None], tuple] = {}
    for action, entity, payload in session.execute(
            select(AuditEvent.action, AuditEvent.entity_id, AuditEvent.payload)
            .where(AuditEvent.project_slug == slug, AuditEvent.action.in_((RUN_EVENT, VERSION_EVENT)))
            .order_by(AuditEvent.seq)):
        data = json.loads(payload)
        if action == RUN_EVENT and data.get("mlflow_run_id"):
            runs[data["mlflow_run_id"]] = int(entity)
        elif action == VERSION_EVENT:
            versions[(data["mlflow_model"], int(data["mlflow_version"]), data.get("mlflow_run_id"))] = tuple(
                data.get("aliases") or ())
    return runs, versions


def _logged(run: MlflowRun) -> tuple[LoggedRun, list[str]]:
    """The MLflow run as the tracking writer takes it; non-finite points are left out (named)."""
    dropped = sorted(k for k, points in run.metrics.items() if any(not math.isfinite(p[1]) for p in points))
    history = {METRIC_PREFIX + k: [[step, value] for _, value, step in points if math.isfinite(value)]
               for k, points in run.metrics.items()}
    code = {k: v for k, v in {"git_commit": run.tags.get("mlflow.source.git.commit"),
                              "script": run.tags.get("mlflow.source.name")}.items() if v}
    duration = (run.end_time - run.start_time) / 1000 if run.start_time and run.end_time else 0.0
    logged = LoggedRun(params=dict(run.params), metrics={METRIC_PREFIX + k: v for k, v in run.latest().items()},
                       history=history, tags=dict(run.tags), code=code, duration_s=max(duration, 0.0))
    return logged, dropped


def import_mlflow(wb: Workbench, slug: str, location: str | Path, *, experiment: str | None = None,
                  dataset: int | str | None = None) -> MlflowImport:
    """Bring the runs (params, metrics with their history, tags) and registered model versions
    (with their aliases) of the MLflow store at ``location`` into project ``slug``.

    Everything is read and checked before anything is written; what is new is written in one
    unit of work with one audited event per imported item, each carrying its MLflow id."""
    with wb.read() as session:
        find_project(session, slug)  # an unknown project is named before the store is read
    store: MlflowStore = read_store(location)
    experiments = set(store.experiments.values())
    if experiment is not None and experiment not in experiments:
        raise NotFound(f"the MLflow store {store.location} has no experiment '{experiment}' (experiments: "
                       f"{', '.join(sorted(experiments)) or 'none'}); give one of those to --experiment, or leave it out")
    chosen = [r for r in store.runs if experiment is None or r.experiment == experiment]
    skipped = [f"run {r.run_id} ({r.name or 'unnamed'}) is {r.status} in MLflow: import again when it has ended"
               for r in chosen if r.status in UNFINISHED]
    chosen = [r for r in chosen if r.status not in UNFINISHED]
    if store.deleted_runs:
        skipped.append(f"{store.deleted_runs} deleted run(s) in MLflow were left out")
    run_ids = {r.run_id for r in chosen}
    versions = [v for v in store.model_versions if experiment is None or v.run_id in run_ids]
    try:
        plan = plan_run(wb, slug, dataset=dataset)
    except DatasetSuperseded as exc:
        raise DatasetSuperseded(f"{str(exc).partition(':')[0]}: imported runs are filed under the newest training "
                                "data; leave out --dataset") from None
    for name in {r.experiment for r in chosen}:
        if not name or len(name) > 200:
            raise WorkbenchError(f"MLflow experiment name {name[:60]!r}… is longer than the workbench takes (200)")

    imported_runs: list[ImportedRun] = []
    imported_versions: list[ImportedVersion] = []
    with wb.unit_of_work() as uow:
        before, recorded = _imported_before(uow.session, slug)
        numbers = dict(uow.session.execute(select(Run.id, Run.number).where(Run.id.in_(set(before.values())))).all())
        by_mlflow: dict[str, int | None] = {k: numbers.get(v) for k, v in before.items()}
        run_row: dict[str, int] = dict(before)
        for run in chosen:
            note = model_note(run)
            if run.run_id in before:
                imported_runs.append(ImportedRun(run.run_id, run.name, run.experiment, by_mlflow[run.run_id], False, note))
                continue
            logged, dropped = _logged(run)
            source = {"system": SYSTEM, "run_id": run.run_id, "experiment_id": run.experiment_id,
                      "experiment": run.experiment, "run_name": run.name, "status": run.status, "user": run.user,
                      "start_time": run.start_time, "end_time": run.end_time, "store": store.location,
                      "store_kind": store.kind, "metric_prefix": METRIC_PREFIX, "model_note": note,
                      "models": [{"model_id": m.model_id, "flavors": list(m.flavors),
                                  "serialization_format": m.serialization_format} for m in run.models],
                      **({"non_finite_metrics_left_out": dropped} if dropped else {})}
            row, _ = write_run(uow, replace(plan, experiment=run.experiment), logged, imported=source)
            run_row[run.run_id] = row.id
            by_mlflow[run.run_id] = row.number
            imported_runs.append(ImportedRun(run.run_id, run.name, run.experiment, row.number, True, note))
        for version in versions:
            key = (version.name, version.version, version.run_id)
            number = by_mlflow.get(version.run_id) if version.run_id else None
            if recorded.get(key) == version.aliases:
                imported_versions.append(ImportedVersion(version.name, version.version, version.aliases,
                                                         version.run_id, number, False))
                continue
            linked = run_row.get(version.run_id or "")
            uow.audit(VERSION_EVENT, "run" if linked else "project", linked or slug, project=slug,
                      mlflow_model=version.name, mlflow_version=version.version, aliases=list(version.aliases),
                      **({"aliases_before": list(recorded[key])} if key in recorded else {}),
                      mlflow_run_id=version.run_id, run_number=number, source=version.source, status=version.status,
                      stage=version.stage, description=version.description, store=store.location,
                      note="an MLflow registry fact, not a workbench model version: it has no model file, so it "
                           "cannot be approved or promoted")
            imported_versions.append(ImportedVersion(version.name, version.version, version.aliases, version.run_id,
                                                     number, True, recorded.get(key)))
    with wb.read() as session:
        number = session.scalar(select(DatasetVersion.number).where(DatasetVersion.id == plan.dataset_version_id))
    return MlflowImport(slug, store.location, store.kind, number, plan.split_id, imported_runs, imported_versions,
                        skipped)


def imported_versions(wb: Workbench, slug: str) -> list[ImportedVersion]:
    """The MLflow registry facts recorded for a project (the newest record of each version)."""
    with wb.read() as session:
        find_project(session, slug)
        runs, versions = _imported_before(session, slug)
        numbers = dict(session.execute(select(Run.id, Run.number).where(Run.id.in_(set(runs.values())))).all())
    return [ImportedVersion(name, version, aliases, run_id, numbers.get(runs.get(run_id or "", -1)), False)
            for (name, version, run_id), aliases in sorted(versions.items(), key=lambda kv: (kv[0][0], kv[0][1]))]
