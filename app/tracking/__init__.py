"""``mlwb``: log a run of your own training code into the workbench.

Installed as the top-level package ``mlwb`` (``pyproject.toml`` maps it to ``app/tracking``, so
the repository keeps its fixed layout). A run logged here is a run like any other: it appears in
``mlwb runs``, is compared with ``mlwb compare`` on the same validation rows as the built-in runs
(the workbench re-scores the model file you logged), and is registered, approved, promoted,
served and monitored like them; its reports say it was trained outside the workbench and name
the code version (git commit) it came from::

    import mlwb
    from lightgbm import LGBMClassifier

    with mlwb.start_run("churn", params={"n_estimators": 200}) as run:
        X, y = run.train_data()                      # the split's train part, framing's features
        model = LGBMClassifier(n_estimators=200).fit(X, y)
        run.log_metrics({"train_logloss": 0.31}, step=200)
        run.log_model(model)                         # skops + allow-list, never pickle
    print(run.id, run.metrics["val_roc_auc"])        # the workbench's own validation score

Who logged it is proven by your registered signing key (``mlwb people init``), never by a name
in an environment variable. Nothing is written until the ``with`` block ends without an error,
and then the run and its audit event are written in one transaction; a metric that is not a
finite number, a model skops cannot save safely, a dataset of another project or one superseded
by newer data raise a ``TrackingError`` (a ``WorkbenchError``) and write nothing.

The module-level ``log_params``, ``log_metrics``, ``log_artifact``, ``set_tags`` and
``log_model`` act on the innermost active run, as in other tracking libraries.
"""

from __future__ import annotations

import atexit
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from app.errors import NotFound, WorkbenchError
from app.services import external_runs
from app.services.external_runs import (
    BadMetric,
    DatasetSuperseded,
    LoggedRun,
    NotRegistered,
    RunPlan,
    TrackingError,
    UnsafeModelFile,
)
from app.services.training import RunView
from app.services.workbench import Workbench

__all__ = [
    "ActiveRun", "BadMetric", "DatasetSuperseded", "NotFound", "NotRegistered", "TrackingError",
    "UnsafeModelFile", "WorkbenchError", "active_run", "log_artifact", "log_metric", "log_metrics",
    "log_model", "log_param", "log_params", "set_tag", "set_tags", "start_run",
]

# One open workbench per workspace for the life of the process: a training loop logs many runs,
# and opening a workspace (schema check, audit key) costs more than logging one.
_WORKBENCHES: dict[Path, Workbench] = {}
# What a run was bound to at its start, per (workspace, project, dataset, split, experiment,
# key): re-checked when each run is written, so a cached plan never outlives its data.
_PLANS: dict[tuple[Any, ...], RunPlan] = {}
_ACTIVE: list[ActiveRun] = []


def _workbench(home: str | os.PathLike[str] | None) -> Workbench:
    from storage.workspace import Workspace

    workspace = Workspace(Path(home).expanduser().resolve()) if home is not None else Workspace.locate()
    bench = _WORKBENCHES.get(workspace.home)
    if bench is None:
        bench = _WORKBENCHES[workspace.home] = Workbench.open(workspace)
    return bench


@atexit.register
def _close_workbenches() -> None:
    for bench in _WORKBENCHES.values():
        bench.close()
    _WORKBENCHES.clear()


_PLATFORM: list[str] = []


def _environment() -> dict[str, Any]:
    """Versions of what the caller's process has imported (nothing is imported to find out)."""
    if not _PLATFORM:  # platform.platform() reads files and runs uname: once per process
        _PLATFORM.append(platform.platform())
    out: dict[str, Any] = {"python": sys.version.split()[0], "platform": _PLATFORM[0]}
    for module, name in (("sklearn", "sklearn"), ("numpy", "numpy"), ("pandas", "pandas"),
                         ("lightgbm", "lightgbm"), ("xgboost", "xgboost"), ("skops", "skops")):
        found = sys.modules.get(module)
        if found is not None and getattr(found, "__version__", None):
            out[name] = found.__version__
    return out


class ActiveRun:
    """One run being logged; use it as the context manager ``start_run`` returns.

    After the ``with`` block, ``id``, ``view`` (the run as ``mlwb runs`` shows it) and
    ``metrics`` (with the workbench's ``val_*`` scores when a model was logged) are set."""

    def __init__(self, workbench: Workbench, plan: RunPlan, params: dict[str, Any] | None,
                 tags: dict[str, Any] | None) -> None:
        self._wb = workbench
        self.plan = plan
        self._logged = LoggedRun()
        self._spec: dict[str, Any] | None = None
        self._prepared: Any = None
        self._started = 0.0
        self.view: RunView | None = None
        if params:
            self.log_params(params)
        if tags:
            self.set_tags(tags)

    # --- the data the workbench trains and judges on ------------------------------------------------

    def _data(self) -> Any:
        if self._prepared is None:
            from app.ml.preparation import prepare_data
            from app.ml.tabular import read_table
            from app.ml.training_spec import TrainingSpec

            self._spec = external_runs.with_data(self._wb, self.plan)
            spec = TrainingSpec(**self._spec)
            self._prepared = prepare_data(read_table(spec.dataset_path), spec)
        return self._prepared

    def _part(self, part: str) -> tuple[Any, Any]:
        data = self._data()
        rows = data.parts.get(part)
        if rows is None or len(rows) == 0:
            raise TrackingError(f"split {self.plan.split_id} has no {part} part")
        return data.X.iloc[rows], (None if data.y is None else data.y[rows])

    def train_data(self) -> tuple[Any, Any]:
        """(X, y) of the split's train part: the framing's serving-time features, typed as the
        built-in trainers get them, and the target encoded as they encode it (0/1 for binary)."""
        return self._part("train")

    def validation_data(self) -> tuple[Any, Any]:
        """(X, y) of the split's validation part, for early stopping or model selection. The
        sealed test part is not handed out: `mlwb evaluate` opens it, once, audited."""
        return self._part("validation")

    # --- what the caller logs -------------------------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        """Parameters as plain JSON (anything else is kept as its ``repr``)."""
        plain = {external_runs.check_name(k, "param"): external_runs.plain_param(v) for k, v in params.items()}
        self._logged.params.update(plain)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Finite numbers only (``BadMetric`` otherwise, and then none of this call's metrics is
        kept). With ``step`` each value joins the metric's history; the last one logged is the
        run's value. Kept in memory and written with the run."""
        checked = {k: external_runs.finite_metric(k, v) for k, v in metrics.items()}
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise TrackingError(f"step must be a whole number, not {step!r}")
        history = self._logged.history
        for key, value in checked.items():
            points = history.setdefault(key, [])
            points.append([len(points) if step is None else step, value])
        self._logged.metrics.update(checked)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        self._logged.tags.update({external_runs.check_name(k, "tag"): str(v)[:5000] for k, v in tags.items()})

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> str:
        """Store a file (a plot, a report, a config) in the workspace's content-addressed store;
        returns its SHA-256. The run's audit event names it."""
        source = Path(path)
        if not source.is_file():
            raise TrackingError(f"log_artifact: {source} is not a file")
        key = external_runs.check_name(name or source.name, "artifact")
        sha = self._wb.artifacts.put_file(source, source.suffix)
        self._logged.artifacts[key] = sha
        return sha

    def log_model(self, model: Any, signature: dict[str, Any] | None = None) -> dict[str, float]:
        """Save a fitted estimator with the scikit-learn API (a pipeline, LightGBM's or XGBoost's
        sklearn wrapper) with skops through the families' allow-list, and have the workbench
        re-score the saved file on the split's validation part. Returns those ``val_*`` metrics.

        ``signature`` (optional) describes the model's input: ``{"inputs": [feature, ...]}`` must
        name the framing's serving-time features, which is what serving will send it."""
        if self._logged.model is not None:
            raise TrackingError("this run already logged a model: start another run for another model")
        if signature is not None:
            if not isinstance(signature, dict):
                raise TrackingError("signature must be a dict like {'inputs': [feature, ...]}")
            inputs = signature.get("inputs")
            names = list(inputs) if isinstance(inputs, (list, tuple, dict)) else None
            expected = list(self.plan.spec["features"])
            if names is not None and sorted(map(str, names)) != sorted(expected):
                raise TrackingError(f"the signature's inputs {names} are not the framing's serving-time features "
                                    f"{expected}: the served model receives exactly those")
            signature = {str(k): external_runs.plain_param(v) for k, v in signature.items()}
        if self._spec is None:
            self._spec = external_runs.with_data(self._wb, self.plan)
        self._logged.model = external_runs.score_model(self._wb, self.plan, model, signature=signature,
                                                       spec=self._spec)
        return dict(self._logged.model["metrics"])

    # --- the run's life -----------------------------------------------------------------------------

    @property
    def id(self) -> int | None:
        return self.view.id if self.view else None

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.view.metrics) if self.view else dict(self._logged.metrics)

    def __enter__(self) -> ActiveRun:
        self._started = time.perf_counter()
        _ACTIVE.append(self)
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        _ACTIVE.remove(self)
        if exc_type is not None:
            return  # the caller's error propagates; the run is not written
        self._logged.duration_s = time.perf_counter() - self._started
        self._logged.environment = _environment()
        self._logged.code = external_runs.code_version()
        try:
            self.view = external_runs.record_run(self._wb, self.plan, self._logged)
        except WorkbenchError:
            _PLANS.clear()  # the data, the split, the framing or the key changed: resolve again next time
            raise


def start_run(project: str, *, dataset: int | None = None, split: int | None = None,
              params: dict[str, Any] | None = None, tags: dict[str, Any] | None = None,
              experiment: str = "default", home: str | os.PathLike[str] | None = None,
              workbench: Workbench | None = None) -> ActiveRun:
    """A run of ``project`` on its training ``dataset`` version (default: the newest) and that
    version's ``split`` (default: the newest), to use as ``with mlwb.start_run(...) as run:``.

    The workspace is ``home``, else ``MLWB_HOME``, else the default one (``workbench``: an
    already open one). Checked now and again when the run is written: your signing key is
    registered, the dataset is the project's and not superseded, the split does not leak."""
    wb = workbench or _workbench(home)
    key = wb.signing_key()
    cache_key = (id(wb), project, dataset, split, experiment, key.fingerprint if key else None)
    plan = _PLANS.get(cache_key)
    if plan is None:
        plan = external_runs.plan_run(wb, project, dataset=dataset, split=split, experiment=experiment)
        _PLANS[cache_key] = plan
    return ActiveRun(wb, plan, params, tags)


def active_run() -> ActiveRun:
    """The innermost run being logged, or a ``TrackingError`` when there is none."""
    if not _ACTIVE:
        raise TrackingError("no active run: call this inside `with mlwb.start_run(PROJECT) as run:`")
    return _ACTIVE[-1]


def log_param(key: str, value: Any) -> None:
    active_run().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    active_run().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    active_run().log_metric(key, value, step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    active_run().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    active_run().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    active_run().set_tags(tags)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> str:
    return active_run().log_artifact(path, name)


def log_model(model: Any, signature: dict[str, Any] | None = None) -> dict[str, float]:
    return active_run().log_model(model, signature)
