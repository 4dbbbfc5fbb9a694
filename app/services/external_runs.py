"""Runs trained outside the workbench: a person's own training code logs them through the public
``mlwb`` module (``app.tracking``), and they become runs like any other.

What makes such a run comparable, registrable and servable is decided here, not trusted from
the caller:

- *Identity*: the run is logged by the person whose registered signing key is present (the key
  ``mlwb people init`` made; never a name from an environment variable). Its statement (project,
  data, split, a digest of params and metrics, the model file's SHA-256, the code version) is
  signed with that key and the signature goes into the run's audit event.
- *Data*: the run names the project's training dataset version and its split; both must still
  be the newest when the run is written (a run trained on superseded data could not be compared
  on the rows the current runs are judged on). The caller gets the train and validation rows
  from the workbench, prepared as the built-in trainers get them; the sealed test part is never
  handed out.
- *Model*: saved with skops and loaded back through the model families' allow-list
  (``app.ml.model_files``); then *the saved file* is re-scored on the split's validation part
  (``app.ml.rescoring``), so its ``val_*`` metrics and predictions are the workbench's own, on
  the same rows as every other run of that split (``app.services.comparison``).

A run is written in one unit of work at the end of its ``with`` block: the run row and one
``run.logged`` event (with the row hashes, as every service writes them). A block that raises,
a bad metric, an unsafe model or superseded data leave nothing behind but content-addressed
files nobody refers to.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.canonical import canonical_json
from app.errors import GateFailed, WorkbenchError
from app.ml.training_spec import EXTERNAL_KIND
from app.services import numbering
from app.services.datasets import dataset_path, find_dataset, latest_training_dataset, split_assignments
from app.services.deliverables import FRAMING, STATEMENT, deliverable
from app.services.identity import identity_in
from app.services.training import (
    DEFAULT_EXPERIMENT,
    RunView,
    _blocking_leaks,
    _experiment,
    _serving_features,
    extra_metrics,
    run_view,
    validation_metric,
)
from app.services.workbench import Workbench, find_project
from storage.models import DatasetVersion, Run, Split, StageDeliverable

ORIGIN = "external"
MAX_NAME = 250


class TrackingError(WorkbenchError):
    """A run logged through the `mlwb` module was refused; nothing of it was written."""


class NotRegistered(TrackingError):
    """Who logs a run is proven by a registered signing key, and there is none."""


class BadMetric(TrackingError):
    """A metric that is not a finite number (or a name that is not one)."""


class DatasetSuperseded(TrackingError):
    """The run's dataset version or split is no longer the project's newest."""


class UnsafeModelFile(TrackingError):
    """The model cannot be saved as a file the workbench would load without running code."""


@dataclass(frozen=True)
class RunPlan:
    """What a run logged from outside is bound to, resolved once when it starts."""

    slug: str
    problem_type: str
    dataset_version_id: int
    split_id: int
    framing_revision: int
    experiment: str
    fingerprint: str
    person: str
    metric: str  # the project's validation metric ("val_roc_auc")
    spec: dict[str, Any] = field(repr=False)  # a TrainingSpec's fields (kind "external"), paths included


def _latest_split(session: Any, dataset: DatasetVersion) -> Split | None:
    return session.scalars(select(Split).where(Split.dataset_version_id == dataset.id)
                           .order_by(Split.id.desc())).first()


def _framing_revision(session: Any, project_id: int) -> int:
    return session.scalar(select(StageDeliverable.revision).where(
        StageDeliverable.project_id == project_id, StageDeliverable.kind == FRAMING)) or 0


def plan_run(wb: Workbench, slug: str, *, dataset: int | str | None = None, split: int | None = None,
             experiment: str = DEFAULT_EXPERIMENT) -> RunPlan:
    """Resolve and check who logs, the data, the split and the features for a run from outside.

    ``dataset`` is the project's dataset version as a person names it (``2``, ``"dataset 2"``;
    default: its newest training data), ``split``
    one of that version's splits (default: its newest); an older one of either is refused, as
    it would be when the run is written."""
    if not experiment or len(experiment) > 200:
        raise TrackingError("the experiment name must be 1 to 200 characters")
    key = wb.signing_key()
    dataset_id = numbering.dataset_id(wb, dataset, project=slug)
    with wb.read() as session:
        who = identity_in(session, key)
        if who.person is None:
            raise NotRegistered(
                "logging a run needs your registered signing key, and "
                + ("none was found: create it with `mlwb people init`" if key is None else
                   f"the key {key.fingerprint[:16]} ({key.store}) is not registered in this workspace: "
                   "ask an admin to run `mlwb people add NAME --public-key FILE --role engineer`"))
        project = find_project(session, slug)
        data = find_dataset(session, project, dataset_id)
        if data.role != "training":
            raise TrackingError(f"{numbering.dataset_label(data.number)} of '{slug}' is {data.role} data, not training data: "
                                f"log the run on a training dataset (`mlwb data list {slug}`)")
        _check_current(session, project, data, split)
        chosen = session.get(Split, split) if split is not None else _latest_split(session, data)
        if chosen is None:
            raise TrackingError(f"{numbering.dataset_label(data.number)} has no split: create one with `mlwb data split {slug}`")
        features = _serving_features(session, project, data)
        leaks = _blocking_leaks(chosen, features)
        if leaks:
            found = "; ".join(f"{f['check']} {f.get('feature') or ''}: {f['evidence']}" for f in leaks)
            raise GateFailed(f"split {chosen.id} of {numbering.dataset_label(data.number)} leaks — {found}. Fix the data, or mark "
                             "the feature unavailable at serving time in the framing, then split again")
        spec = {
            "kind": EXTERNAL_KIND, "problem_type": project.problem_type, "dataset_path": "",
            "target": data.target or "", "features": features, "assignments": {}, "seed": 0,
            "group_column": chosen.group_column, "time_column": chosen.time_column or data.time_column,
            "extra_metrics": extra_metrics(project.problem_type, deliverable(session, project, STATEMENT)),
        }
        return RunPlan(slug, project.problem_type, data.id, chosen.id, _framing_revision(session, project.id),
                       experiment, who.person.fingerprint, who.person.name, validation_metric(project), spec)


def _check_current(session: Any, project: Any, data: DatasetVersion | _IdOnly, split_id: int | None) -> None:
    """Refuse data that a newer training dataset version, or a split that a newer split of the
    same version, has superseded (``DatasetSuperseded``)."""
    # ids only: a dataset row's schema, profile and quality JSON are large, and this runs per run
    newest = session.execute(select(DatasetVersion.id, DatasetVersion.number).where(
        DatasetVersion.project_id == project.id, DatasetVersion.role == "training")
        .order_by(DatasetVersion.id.desc()).limit(1)).first()
    if newest is None:
        latest_training_dataset(session, project)  # raises: the project has no training data

    def named() -> str:
        return numbering.dataset_label(session.scalar(select(DatasetVersion.number).where(
            DatasetVersion.id == data.id)))

    if newest.id != data.id:
        raise DatasetSuperseded(
            f"{named()} of '{project.slug}' was superseded by dataset {newest.number}: train on it "
            f"(start_run(..., dataset={newest.number})) so the run is judged on the current rows")
    if split_id is not None:
        splits = list(session.scalars(select(Split.id).where(Split.dataset_version_id == data.id)
                                      .order_by(Split.id.desc())))
        if split_id not in splits:
            raise TrackingError(f"{named()} has no split {split_id}: list them with "
                                f"`mlwb data splits {project.slug}`")
        if splits[0] != split_id:
            raise DatasetSuperseded(
                f"split {split_id} of {named()} was superseded by split {splits[0]}: train on "
                f"split {splits[0]} so the run is compared on the same validation rows as the others")


@dataclass(frozen=True)
class _IdOnly:
    id: int


def with_data(wb: Workbench, plan: RunPlan) -> dict[str, Any]:
    """The plan's spec with the dataset's verified path and the split's row assignments (read
    only when the caller asks for data or logs a model)."""
    with wb.read() as session:
        data = session.get(DatasetVersion, plan.dataset_version_id)
        split = session.get(Split, plan.split_id)
        return {**plan.spec, "dataset_path": str(dataset_path(wb, data)),
                "assignments": split_assignments(wb, split)}


# --- checking what the caller logs -------------------------------------------------------------------


def check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise TrackingError(f"a {what} name must be text of 1 to {MAX_NAME} characters, not {name!r}")
    return name


def finite_metric(name: object, value: object) -> float:
    """The metric as a float, or ``BadMetric`` naming it: NaN, infinities, booleans and
    anything that is not a real number are refused (a comparison on them would mean nothing)."""
    key = check_name(name, "metric")
    if isinstance(value, bool) or not hasattr(value, "__float__") or isinstance(value, complex):
        raise BadMetric(f"metric {key!r} must be a finite number, not {value!r} ({type(value).__name__})")
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise BadMetric(f"metric {key!r} is {number}: log only finite numbers (check the training for a "
                        "division by zero or a diverging loss); the run was not written")
    return number


def plain_param(value: Any) -> Any:
    """A parameter as plain JSON: numbers, text, booleans and None as they are (numpy scalars
    made plain; a non-finite float as its text), anything else (an estimator, a callable) as its
    ``repr``, so a param never fails to store and never pretends to be what it is not."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():
        return plain_param(item())
    if isinstance(value, (list, tuple)) and len(value) <= 100:
        return [plain_param(v) for v in value]
    return repr(value)[:1000]


# --- the code version ---------------------------------------------------------------------------------

_CODE_VERSIONS: dict[str, dict[str, Any]] = {}


def code_version(cwd: str | None = None) -> dict[str, Any]:
    """Where the caller's code came from: the git commit of its working directory (and whether
    the tree had uncommitted changes), else nothing git can say; the script's path and SHA-256.

    Asked of git once per process and directory: a training loop logs many runs from one
    checkout, and two git processes a run would cost more than logging it."""
    where = cwd or os.getcwd()
    if where in _CODE_VERSIONS:
        return _CODE_VERSIONS[where]
    out: dict[str, Any] = {}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                                timeout=10)
        if commit.returncode == 0:
            out["git_commit"] = commit.stdout.strip()
            status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                                    capture_output=True, text=True, timeout=10)
            out["dirty"] = bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main and Path(main).is_file():
        out["script"] = str(Path(main).resolve())
        out["script_sha256"] = hashlib.sha256(Path(main).read_bytes()).hexdigest()
    _CODE_VERSIONS[where] = out
    return out


def describe_code_version(code: dict[str, Any] | None) -> str:
    """One line a report prints: "git 1a2b3c4d5e6f (uncommitted changes), script train.py"."""
    if not code:
        return "no code version recorded"
    parts = []
    if code.get("git_commit"):
        parts.append(f"git {code['git_commit'][:12]}" + (" (uncommitted changes)" if code.get("dirty") else ""))
    else:
        parts.append("not in a git repository")
    if code.get("script"):
        parts.append(f"script {Path(code['script']).name} sha256 {str(code.get('script_sha256', ''))[:12]}")
    return ", ".join(parts)


def trained_outside(run: Any) -> str | None:
    """The sentence reports print for a run trained outside the workbench (None for our own)."""
    if getattr(run, "origin", None) != ORIGIN:
        return None
    source = (getattr(run, "environment", None) or {}).get("imported_from")
    if source:
        return imported_note(source, run.created_by)
    return (f"trained outside the workbench and logged through `mlwb` by {run.created_by}, from code version "
            f"{describe_code_version(getattr(run, 'code_version', None))}; re-scored by the workbench on the "
            "split's validation part")


_SYSTEMS = {"mlflow": "MLflow"}  # how a report names the trackers runs are imported from


def imported_note(source: dict[str, Any], importer: str) -> str:
    """What a run imported from another tracker is, in one paragraph: where it came from, that its
    metrics are that tracker's (on data the workbench did not see), and what became of its model."""
    system = _SYSTEMS.get(source.get("system", ""), source.get("system", "another tracker"))
    return (f"trained outside the workbench and imported from {system} (run {source.get('run_id')} of experiment "
            f"'{source.get('experiment')}') by {importer}; its metrics (named {source.get('metric_prefix', '')}…) "
            f"were computed by {system} on data the workbench did not see, so they are not comparable with the "
            f"workbench's runs until re-scored, which needs a model; {source.get('model_note', 'no model was logged')}")


def imported_without_model(run: Any) -> str | None:
    """Why a run imported from another tracker has no model file (None for any other run): the
    message a refused register or compare gives instead of a tuning trial's or a retrain hint."""
    source = (getattr(run, "environment", None) or {}).get("imported_from")
    if getattr(run, "origin", None) != ORIGIN or not source or run.artifact_sha256:
        return None
    return (f"was imported from {_SYSTEMS.get(source.get('system', ''), 'another tracker')} without a model "
            f"({source.get('model_note', 'no model file')}); its metrics are not the workbench's: log the model "
            "through `import mlwb` to register or compare it")


# --- writing the run ------------------------------------------------------------------------------------


@dataclass
class LoggedRun:
    """Everything a run collected before it ends; written at once by ``record_run``."""

    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[list[float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> sha256 in the artifact store
    model: dict[str, Any] | None = None  # from ``score_model``
    environment: dict[str, Any] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0


def score_model(wb: Workbench, plan: RunPlan, model: Any, *, signature: dict[str, Any] | None = None,
                spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """Save ``model`` through the allow-list, store the file, and re-score *the stored file* on
    the split's validation part: the ``val_*`` metrics and predictions the run is compared by."""
    from app.ml.model_files import UnsafeModel, model_family, save_model_checked
    from app.ml.rescoring import score_on_validation
    from app.ml.training_spec import TrainingSpec

    for method in ("fit", "predict"):
        if not callable(getattr(model, method, None)):
            raise UnsafeModelFile(f"log_model needs an estimator with the scikit-learn API (fit, predict); "
                                  f"a {type(model).__name__} has no {method}()")
    try:
        data = save_model_checked(model)
    except UnsafeModel as exc:
        raise UnsafeModelFile(f"{exc}; the run was not written") from None
    spec = spec or with_data(wb, plan)
    try:
        scored = score_on_validation(data, TrainingSpec(**spec))
    except Exception as exc:  # the model does not take the framing's features, or predicts nonsense
        raise TrackingError(
            f"the workbench could not score the logged {type(model).__name__} on the validation part of split "
            f"{plan.split_id} ({type(exc).__name__}: {exc}): fit it on run.train_data()'s columns "
            f"({', '.join(plan.spec['features'])}) so it takes the rows the workbench serves") from None
    bad = sorted(k for k, v in scored["metrics"].items() if not math.isfinite(float(v)))
    if bad:
        raise BadMetric(f"re-scoring the logged model gave non-finite {', '.join(bad)}: the run was not written")
    sha = wb.artifacts.put_bytes(data, ".skops")
    predictions = wb.artifacts.put_bytes(json.dumps(scored["predictions"], separators=(",", ":")).encode(), ".json")
    family = model_family(model)
    final = model.steps[-1][1] if getattr(model, "steps", None) else model
    return {"artifact_sha256": sha, "predictions_sha256": predictions, "metrics": scored["metrics"],
            "n_validation": scored["n_validation"], "family": family,
            "estimator": f"{type(final).__module__}.{type(final).__name__}",
            "family_version": _version_of(family), "signature": signature or {}}


def _version_of(family: str) -> str | None:
    module = {"scikit-learn": "sklearn"}.get(family, family)
    found = sys.modules.get(module)
    return getattr(found, "__version__", None) if found is not None else None


def _digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def record_run(wb: Workbench, plan: RunPlan, logged: LoggedRun) -> RunView:
    """Write the run and its one audit event in one unit of work, after checking again that the
    logger's key, the data, the split and the framing are still what the run started on."""
    with wb.unit_of_work() as uow:
        run, experiment = write_run(uow, plan, logged)
        return run_view(run, experiment.name)


def write_run(uow: Any, plan: RunPlan, logged: LoggedRun, *,
              imported: dict[str, Any] | None = None) -> tuple[Run, Any]:
    """The run row and its signed, audited event inside the caller's unit of work (``record_run``
    writes one run; an import from another tracker writes many in one, all or nothing).

    ``imported`` marks a run brought from another tracking store (``app.services.mlflow_import``):
    its facts there (``{"system": "mlflow", "run_id": …}``) go into the run's environment, its
    parameters are kept exactly as that store had them (the workbench's features are not added:
    the run was not trained on them), and its event is ``run.imported`` with the foreign id."""
    model = logged.model
    metrics = dict(logged.metrics)
    if model is not None:
        for name, value in model["metrics"].items():  # the workbench's own validation scores win
            if name in metrics and metrics[name] != value:
                metrics[f"logged_{name}"] = metrics[name]
            metrics[name] = value
    kind = f"{EXTERNAL_KIND}:{model['estimator'].rpartition('.')[2]}" if model else EXTERNAL_KIND
    if imported:
        kind = f"{EXTERNAL_KIND}:{imported['system']}"
    seed = logged.params.get("random_state", logged.params.get("seed", 0))
    environment = {**logged.environment, **({"model_family": model["family"], "estimator": model["estimator"],
                                             "family_version": model["family_version"]} if model else {}),
                   **({"artifacts": dict(logged.artifacts)} if logged.artifacts else {}),
                   **({"imported_from": imported} if imported else {})}
    params = dict(logged.params) if imported else {
        **logged.params, "features": plan.spec["features"], "target": plan.spec["target"],
        "extra_metrics": plan.spec["extra_metrics"],
        **({"signature": model["signature"]} if model and model["signature"] else {})}
    if uow.identity.key is None or uow.identity.fingerprint != plan.fingerprint:
        raise NotRegistered("the signing key that started this run is no longer the registered key present: "
                            "the run was not written")
    project = uow.project(plan.slug)
    _check_current(uow.session, project, _IdOnly(plan.dataset_version_id), plan.split_id)
    if _framing_revision(uow.session, project.id) != plan.framing_revision:
        raise TrackingError("the project's framing changed while this run trained, so its features may no "
                            "longer be the ones served: start the run again")
    experiment = _experiment(uow, project, plan.experiment)
    run = Run(
        experiment_id=experiment.id, project_id=project.id, number=numbering.next_number(uow.session, Run, project.id),
        dataset_version_id=plan.dataset_version_id, split_id=plan.split_id,
        model_kind=kind, problem_type=plan.problem_type, is_baseline=False,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 0, params=params,
        metrics=metrics, environment=environment,
        artifact_sha256=model["artifact_sha256"] if model else None,
        predictions_sha256=model["predictions_sha256"] if model else None,
        duration_s=round(logged.duration_s, 6), created_by=uow.actor, origin=ORIGIN,
        code_version=logged.code or None, tags=dict(logged.tags) or None,
        metric_history={k: v for k, v in logged.history.items() if len(v) > 1} or None,
    )
    uow.session.add(run)
    uow.session.flush()
    foreign = {f"{imported['system']}_run_id": imported["run_id"]} if imported else {}
    signed = uow.identity.key.sign({
        "kind": "imported_run" if imported else "external_run", "project": plan.slug, "run": run.id,
        "dataset_version": plan.dataset_version_id,
        "split": plan.split_id, "params_sha256": _digest(params), "metrics_sha256": _digest(metrics),
        "model_sha256": run.artifact_sha256, "code_version": logged.code or None, **foreign,
    }, required=("kind", "project", "run"))
    uow.audit("run.imported" if imported else "run.logged", "run", run.id, project=plan.slug, origin=ORIGIN,
              kind=kind, artifact=run.artifact_sha256, split=plan.split_id, dataset_version=plan.dataset_version_id,
              code_version=logged.code or None, artifacts=dict(logged.artifacts) or None,
              statement=signed.text, signer=signed.fingerprint, signature=signed.signature,
              **foreign, **({"source": imported} if imported else {}),
              **{plan.metric: metrics.get(plan.metric)})
    return run, experiment
