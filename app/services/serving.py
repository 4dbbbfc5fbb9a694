"""Stage 5 serving: the production model answers requests, a challenger runs beside it in shadow
or as a canary, and every scored request lands in the prediction log.

No HTTP here: ``app.scoring_server`` is the HTTP adapter, as ``app.cli`` is the CLI adapter, and
the demo calls ``ScoringService.score`` in-process.

How a request is kept fast (figures from the demo's models on this 2-core machine; the end-to-end
numbers are in bench/serving_latency.py):

* Through its sklearn Pipeline, one row costs 5–6 ms, nearly all of it per-call overhead
  (DataFrame indexing, validation, feature-name checks, joblib dispatch; HistGradientBoosting
  re-codes its categorical columns in a second internal ColumnTransformer). So the fitted
  pipeline is compiled once, at load, into the same arithmetic on plain numpy
  (``_FastPreparation``, ``_FastHistGradientBoosting``): 5.7 → 0.84 ms for the demo's
  HistGradientBoosting, 5.3 → 0.53 ms for its logistic regression. Correctness first: the
  compiled path serves only if it gives bit-identical answers to ``predict_output`` on the
  pipeline for probe rows (numbers across the training range, missing values, known, unseen
  and missing categories; together and one by one); any other pipeline shape, or any
  difference, and the model is scored through its pipeline, in a DataFrame built with the
  training dtypes directly.
* Each served model has one scoring thread that takes every request waiting at that moment and
  scores them in one call (micro-batching): under concurrent load a request waits for at most
  the batch in flight instead of queueing for the GIL behind every other request. Only a model
  whose answers are bit-identical scored together or one by one (checked at load) is batched.
* HistGradientBoosting predicts with an OpenMP team per calling thread; for one row the team
  only spins, and on a busy 2-core machine single-row predictions took up to seconds. The
  scoring threads use one OpenMP thread each (a per-thread setting: the rest of the process
  keeps its own).
* The other model (shadow, or production as a canary's counterpart) is scored after the response
  is built, on a background thread, in batches of up to 64 gathered over 50 ms; then the log row
  goes to ``PredictionLogWriter``, which inserts rows in batches. Neither adds to a response's
  latency (they share the GIL, which is why both work in batches).

What the log holds (read by ``release_analysis`` and ``monitoring``): ``prediction`` and
``other_prediction`` are ``{"prediction": ..., "score": ...}`` (score None where the problem type
has none); ``latency_ms`` is the server-side time from the parsed request to the response,
batch wait included; ``other_latency_ms`` is the time the other model took to score the batch
(≤ 64 rows) this request was scored in — an upper bound of its one-request compute time, so a
shadow latency guardrail errs on the safe side. ``error`` is set only when the served model
failed (the client got an error); a failed or skipped shadow leaves ``other_prediction`` None.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import queue
import random
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app.errors import WorkbenchError
from app.services.registry import production_version
from app.services.workbench import Workbench, find_project
from storage.artifacts import ArtifactCorrupted
from storage.models import DatasetVersion, ModelVersion, PredictionLog, Project, Run, utcnow

log = logging.getLogger(__name__)

MAX_REQUEST_ID = 64  # PredictionLog.request_id is String(64)
MAX_BATCH = 64  # rows a served model scores in one call
SHADOW_BATCH = 64  # rows the other model scores in one call (keeps other_latency_ms meaningful)
SHADOW_LINGER_S = 0.05  # how long the shadow thread waits to fill a batch (fewer, larger batches)
SHADOW_BACKLOG = 10_000  # beyond this, new requests are logged without a shadow prediction
RECENT_IDS = 100_000  # request ids remembered to refuse a reused one (older ones: see the writer)
PROBE_ROWS = 16
SCORE_TIMEOUT_S = 30.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
ROUTES = ("production", "canary")


class BadRequest(WorkbenchError):
    """A request the client must fix (HTTP 400); the message names the field."""

    status = 400


class DuplicateRequest(BadRequest):
    """A request id this service has already answered (HTTP 409)."""

    status = 409


class ScoringFailed(WorkbenchError):
    """The served model raised on a valid request (HTTP 500); the request is logged with the error."""

    status = 500


class ServiceClosed(WorkbenchError):
    """The service is stopping and takes no new requests (HTTP 503)."""

    status = 503


# ---------------------------------------------------------------------------------------------
# The models


@dataclass(frozen=True)
class ScoredRow:
    """One validated request's inputs: what each model's frame is built from, and what is logged."""

    request_id: str
    values: dict[str, Any]  # feature -> JSON value as logged (numbers as float, missing as None)
    numbers: dict[str, float]  # numeric features as float64 (NaN when missing)


@dataclass(eq=False)
class ServedModel:
    """A loaded model version and what scoring it needs; ``predict`` is called from one thread."""

    id: int
    version: int
    role: str  # "production" or "challenger"
    run_id: int
    kind: str
    problem_type: str
    n_classes: int
    features: dict[str, str]  # name -> "numeric" | "categorical", in the model's column order
    model: Any
    artifact_sha256: str
    batch_safe: bool = False  # answers are bit-identical scored together or one by one (checked at load)
    fast: _FastPreparation | None = None  # the compiled path, when checked equal to the pipeline

    @property
    def numeric(self) -> frozenset[str]:
        return frozenset(n for n, k in self.features.items() if k == "numeric")

    def frame(self, rows: list[ScoredRow]):  # type: ignore[no-untyped-def]
        """The rows as the DataFrame training saw: numeric columns float64, the rest as given,
        built column by column from arrays of the right dtype (no type inference, no copy)."""
        import numpy as np
        import pandas as pd

        n = len(rows)
        numeric = self.numeric
        data: dict[str, Any] = {}
        for name in self.features:
            if name in numeric:
                data[name] = np.fromiter((r.numbers[name] for r in rows), dtype="float64", count=n)
            else:
                column = np.empty(n, dtype=object)
                column[:] = [r.values[name] for r in rows]
                data[name] = column
        return pd.DataFrame(data, copy=False)

    def predict(self, rows: list[ScoredRow]) -> list[tuple[Any, Any]]:
        """(prediction, score) per row, exactly as ``predict_output`` gives them, as JSON values."""
        predicted, score = self.predict_arrays(rows)
        values = predicted.tolist()
        scores = [None] * len(values) if score is None else score.tolist()
        return list(zip(values, scores))

    def predict_arrays(self, rows: list[ScoredRow], *, generic: bool = False):  # type: ignore[no-untyped-def]
        """``predict_output``'s (prediction, score) arrays: through the compiled path when there is
        one (and not ``generic``), else through the pipeline on a DataFrame of the rows."""
        from app.ml.training import predict_output

        if self.fast is not None and not generic:
            return predict_output(self.fast.estimator, self.fast.transform(rows), self.problem_type, self.n_classes)
        return predict_output(self.model, self.frame(rows), self.problem_type, self.n_classes)


@dataclass(frozen=True)
class ServingModels:
    """The production version and, if one holds the alias, the challenger, loaded once."""

    project_id: int
    slug: str
    production: ServedModel
    challenger: ServedModel | None

    @classmethod
    def load(cls, wb: Workbench, slug: str) -> ServingModels:
        with wb.read() as session:
            project = find_project(session, slug)
            prod_row = production_version(session, project)
            if prod_row is None:
                raise WorkbenchError(
                    f"'{slug}' has no production model version to serve: promote a version first: "
                    f"mlwb promote {slug} VERSION")
            challenger_row = session.scalars(select(ModelVersion).where(
                ModelVersion.project_id == project.id, ModelVersion.alias == "challenger")).first()
            if challenger_row is not None and challenger_row.id == prod_row.id:
                challenger_row = None
            production = _load_version(wb, session, project, prod_row, "production")
            challenger = (_load_version(wb, session, project, challenger_row, "challenger")
                          if challenger_row is not None else None)
            return cls(project.id, slug, production, challenger)

    @property
    def features(self) -> dict[str, str]:
        """Every feature a request must carry: the union of both models' features; a feature
        either model reads as a number must be a number."""
        union = dict(self.production.features)
        if self.challenger is not None:
            for name, kind in self.challenger.features.items():
                union[name] = "numeric" if "numeric" in (kind, union.get(name)) else kind
        return union


def _load_version(wb: Workbench, session, project: Project, mv: ModelVersion, role: str, *,  # type: ignore[no-untyped-def]
                  probe: bool = True) -> ServedModel:
    """Load a version's model file, hash-checked and allow-listed, with what scoring it needs.

    ``probe``: also compile the fast path and decide batching from probe rows (serving only).
    """
    from app.ml.training import load_model

    run = session.get(Run, mv.run_id)
    sha = mv.artifact_sha256
    what = f"the {role} model (version {mv.version} of '{project.slug}') was not loaded"
    if role == "challenger":
        todo = f"clear the challenger with `mlwb alias {project.slug} --clear` to serve production alone"
    else:
        todo = f"roll back to the previous version with `mlwb rollback {project.slug} --reason ...`"
    try:
        data = wb.artifacts.get_bytes(sha, ".skops")
    except ArtifactCorrupted:
        raise WorkbenchError(
            f"{what}: its model file no longer matches the SHA-256 the registry recorded ({sha[:12]}…), so it "
            f"was changed or damaged on disk. Restore the workspace's artifacts from a backup, retrain and "
            f"register a new version, or {todo}") from None
    except FileNotFoundError:
        raise WorkbenchError(
            f"{what}: its model file {sha[:12]}… is missing from the artifact store. Restore the workspace's "
            f"artifacts from a backup, retrain and register a new version, or {todo}") from None
    try:
        model = load_model(data)
    except ValueError as exc:
        raise WorkbenchError(f"{what}: {exc}. Retrain and register a new version, or {todo}") from None
    features = dict(mv.reference_profile.get("features") or run.params.get("features") or {})
    if not features:
        raise WorkbenchError(f"{what}: it records no input features, so requests cannot be checked; retrain it")
    served = ServedModel(
        id=mv.id, version=mv.version, role=role, run_id=run.id, kind=run.model_kind,
        problem_type=run.problem_type, n_classes=len(run.params.get("classes") or []),
        features=features, model=model, artifact_sha256=sha)
    if probe:
        dataset = session.get(DatasetVersion, run.dataset_version_id)
        profile = (dataset.profile or {}).get("columns", {}) if dataset is not None else {}
        probes = _probe_rows(features, profile)
        with _one_openmp_thread():
            served.fast = _verified_fast_preparation(served, probes)
            served.batch_safe = _answers_alike_in_batches(served, probes)
    return served


def _probe_rows(features: dict[str, str], profile: dict[str, Any]) -> list[ScoredRow]:
    """Rows that exercise the model: numbers across the training range (and missing), known
    categories, an unseen one and a missing one, from the training data's stored profile."""
    rows = []
    for i in range(PROBE_ROWS):
        values: dict[str, Any] = {}
        numbers: dict[str, float] = {}
        for j, (name, kind) in enumerate(features.items()):
            column = profile.get(name, {})
            if kind == "numeric":
                low, high = column.get("min"), column.get("max")
                low = 0.0 if low is None else float(low)
                high = low + 1.0 if high is None else float(high)
                step = (i + 3 * j) % (PROBE_ROWS + 1)
                number = math.nan if step == PROBE_ROWS else low + (high - low) * step / (PROBE_ROWS - 1)
                values[name], numbers[name] = (None if math.isnan(number) else number), number
            else:
                known = [v for v, _ in column.get("top", [])] or ["a", "b"]
                choices = [*known, "__mlwb_probe_unseen__", None]
                values[name] = choices[(i + j) % len(choices)]
        rows.append(ScoredRow(f"probe-{i}", values, numbers))
    return rows


def _same_answers(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    """Bit-identical (prediction, score) pairs; NaN equals NaN."""
    import numpy as np

    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return False
        if x is not None and not (np.shape(x) == np.shape(y) and np.array_equal(np.asarray(x), np.asarray(y),
                                                                               equal_nan=True)):
            return False
    return True


def _stack(parts: list[tuple[Any, Any]]) -> tuple[Any, Any]:
    import numpy as np

    return tuple(None if part[0] is None else np.concatenate([p for p in part])  # type: ignore[return-value]
                 for part in zip(*parts))


def _answers_alike_in_batches(model: ServedModel, rows: list[ScoredRow]) -> bool:
    """True when scoring the rows together gives bit-identical answers to scoring them one by one."""
    try:
        together = model.predict_arrays(rows)
        alone = _stack([model.predict_arrays([r]) for r in rows])
    except Exception:  # a model that cannot score a probe row is served one row at a time
        log.warning("model version %s failed on probe rows; serving it one row at a time", model.version,
                    exc_info=True)
        return False
    return _same_answers(together, alone)


def _verified_fast_preparation(model: ServedModel, rows: list[ScoredRow]) -> _FastPreparation | None:
    """The pipeline's preparation step compiled to plain numpy, if the pipeline has a shape we
    know and it gives bit-identical answers to the pipeline itself on the probe rows (together
    and one by one); otherwise None, and the model is scored through its pipeline."""
    try:
        fast = _FastPreparation.compile(model)
    except _Unsupported as why:
        log.info("model version %s is scored through its pipeline: %s", model.version, why)
        return None
    trial = ServedModel(**{**model.__dict__, "fast": fast})
    try:
        for group in ([*rows], *([r] for r in rows)):
            if not _same_answers(trial.predict_arrays(group), model.predict_arrays(group, generic=True)):
                log.warning("model version %s: the compiled preparation differs from the pipeline; "
                            "scoring through the pipeline", model.version)
                return None
    except Exception:
        log.warning("model version %s: the compiled preparation failed on probe rows; scoring through the "
                    "pipeline", model.version, exc_info=True)
        return None
    return fast


class _Unsupported(Exception):
    """A fitted step the compiled preparation does not reproduce."""


class _FastPreparation:
    """A fitted ``ColumnTransformer`` of the shapes ``build_model`` makes, as plain numpy.

    Why: for one row, scikit-learn spends ~3 ms around 0.05 ms of arithmetic (DataFrame
    indexing, validation, feature-name checks, joblib dispatch), once per request. This does
    the same arithmetic from the fitted attributes: numeric columns through identity /
    ``SimpleImputer`` / ``StandardScaler``; categorical columns through ``CategoryAsText`` and an
    ``OrdinalEncoder`` or ``OneHotEncoder`` (no infrequent categories, nothing dropped); stacked
    dense or sparse as the transformer decided at fit. Anything else raises ``_Unsupported`` and
    the pipeline is used; what is compiled is checked against the pipeline before it serves.
    """

    def __init__(self, blocks: list[tuple[str, list[str], list[Any]]], sparse_output: bool, estimator: Any) -> None:
        self.blocks = blocks
        self.sparse_output = sparse_output
        self.estimator = estimator  # the pipeline's own, or a compiled HistGradientBoosting

    @classmethod
    def compile(cls, model: ServedModel) -> _FastPreparation:
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

        from app.ml.estimators import CategoryAsText

        pipeline = model.model
        if not isinstance(pipeline, Pipeline) or len(pipeline) != 2 or not isinstance(pipeline[0], ColumnTransformer):
            raise _Unsupported("not a preparation step followed by an estimator")
        ct = pipeline[0]
        blocks: list[tuple[str, list[str], list[Any]]] = []
        for name, transformer, columns in ct.transformers_:
            if isinstance(transformer, str):
                if transformer == "drop":
                    continue
                raise _Unsupported(f"transformer {name} is {transformer!r}")
            columns = list(columns) if not isinstance(columns, str) else [columns]
            if not columns:
                continue
            if not all(isinstance(c, str) and c in model.features for c in columns):
                raise _Unsupported(f"transformer {name} selects columns other than the model's features by name")
            steps = [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
            if isinstance(steps[0], CategoryAsText):
                if len(steps) != 2:
                    raise _Unsupported(f"categorical block {name} is not text + one encoder")
                encoder = steps[1]
                if getattr(encoder, "_infrequent_enabled", False):
                    # max_categories / min_frequency set: fine as long as no category was grouped
                    mappings = getattr(encoder, "_default_to_infrequent_mappings", None)
                    if mappings is None or any(m is not None for m in mappings):
                        raise _Unsupported(f"encoder of {name} groups infrequent categories")
                if np.dtype(encoder.dtype) != np.float64:
                    raise _Unsupported(f"encoder of {name} does not output float64")
                lookups = [{c: i for i, c in enumerate(cats)} for cats in encoder.categories_]
                if not all(len(lk) == len(cats) and all(isinstance(c, str) for c in cats)
                           for lk, cats in zip(lookups, encoder.categories_)):
                    raise _Unsupported(f"encoder of {name} has categories that are not distinct text")
                if isinstance(encoder, OrdinalEncoder) and encoder.handle_unknown == "use_encoded_value":
                    blocks.append(("ordinal", columns, [lookups, float(encoder.unknown_value)]))
                elif (isinstance(encoder, OneHotEncoder) and encoder.handle_unknown == "ignore"
                      and encoder.drop_idx_ is None):
                    offsets = np.cumsum([0] + [len(c) for c in encoder.categories_])
                    blocks.append(("onehot", columns, [lookups, offsets, bool(encoder.sparse_output)]))
                else:
                    raise _Unsupported(f"encoder of {name} is {type(encoder).__name__}({encoder.handle_unknown})")
                continue
            operations: list[Any] = []
            for step in steps:
                if isinstance(step, FunctionTransformer) and step.func is None:
                    continue
                if isinstance(step, SimpleImputer):
                    stats = np.asarray(step.statistics_, dtype="float64")
                    if (step.add_indicator or not (isinstance(step.missing_values, float)
                                                   and math.isnan(step.missing_values)) or np.isnan(stats).any()):
                        raise _Unsupported(f"imputer of {name} has an indicator, another missing marker or an "
                                           "empty column")
                    operations.append(("impute", stats))
                elif isinstance(step, StandardScaler):
                    operations.append(("scale", step.mean_ if step.with_mean else None,
                                       step.scale_ if step.with_std else None))
                else:
                    raise _Unsupported(f"step {type(step).__name__} of {name}")
            if any(model.features[c] != "numeric" for c in columns):
                raise _Unsupported(f"numeric block {name} takes a categorical feature")
            blocks.append(("numeric", columns, operations))
        if not blocks:
            raise _Unsupported("no columns are used")
        estimator = pipeline[-1]
        try:
            estimator = _FastHistGradientBoosting.compile(estimator)
        except _Unsupported as why:
            log.info("model version %s: the estimator is called as it is (%s)", model.version, why)
        return cls(blocks, bool(ct.sparse_output_), estimator)

    def transform(self, rows: list[ScoredRow]):  # type: ignore[no-untyped-def]
        import numpy as np
        from scipy import sparse

        from app.ml.estimators import MISSING_CATEGORY

        n = len(rows)
        parts: list[Any] = []
        for kind, columns, spec in self.blocks:
            if kind == "numeric":
                X = np.array([[r.numbers[c] for c in columns] for r in rows], dtype="float64").reshape(n, len(columns))
                for operation in spec:
                    if operation[0] == "impute":
                        missing = np.isnan(X)
                        if missing.any():
                            X[missing] = np.broadcast_to(operation[1], X.shape)[missing]
                    else:
                        _, mean, scale = operation
                        if mean is not None:
                            X -= mean
                        if scale is not None:
                            X /= scale
                parts.append(X)
                continue
            text = [[MISSING_CATEGORY if r.values[c] is None else str(r.values[c]) for c in columns] for r in rows]
            if kind == "ordinal":
                lookups, unknown = spec
                parts.append(np.array([[lk.get(t, unknown) for lk, t in zip(lookups, row)] for row in text],
                                      dtype="float64").reshape(n, len(columns)))
                continue
            lookups, offsets, sparse_block = spec
            indices, indptr = [], [0]
            for row in text:
                for j, (lk, t) in enumerate(zip(lookups, row)):
                    code = lk.get(t)
                    if code is not None:
                        indices.append(int(offsets[j]) + code)
                indptr.append(len(indices))
            block = sparse.csr_matrix((np.ones(len(indices)), np.asarray(indices, dtype=np.int64),
                                       np.asarray(indptr, dtype=np.int64)), shape=(n, int(offsets[-1])))
            parts.append(block if sparse_block else block.toarray())
        if self.sparse_output:
            return sparse.hstack(parts).tocsr()
        return np.hstack([p.toarray() if sparse.issparse(p) else p for p in parts])


class _FastHistGradientBoosting:
    """A fitted HistGradientBoosting model's prediction without its per-call overhead.

    Why: for one row, ``predict_proba`` spends ~1.2 ms in the model's own internal
    ColumnTransformer (re-coding the categorical columns it was given) and in rebuilding
    constant lookup tables, around ~0.8 ms of tree walking. This keeps the tree walk — each
    fitted ``TreePredictor.predict``, summed in the same order onto the same baseline, then the
    model's own loss turns raw values into probabilities — and does the re-coding from the fitted
    encoder's categories. It reads private attributes of scikit-learn: any that is missing or
    shaped differently raises ``_Unsupported``, and the result is checked bit for bit against
    the pipeline before it serves (see ``_verified_fast_preparation``).
    """

    @classmethod
    def compile(cls, estimator: Any) -> _FastHistGradientBoosting:
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

        if not isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
            raise _Unsupported(f"{type(estimator).__name__} is not a HistGradientBoosting model")
        self = cls()
        try:
            self.predictors = [list(p) for p in estimator._predictors]
            self.baseline = np.asarray(estimator._baseline_prediction)
            self.n_trees = int(estimator.n_trees_per_iteration_)
            self.loss = estimator._loss
            self.known_cat_bitsets, self.f_idx_map = estimator._bin_mapper.make_known_categories_bitsets()
            self.n_features = int(estimator.n_features_in_)
            pre = estimator._preprocessor
            self.recode: list[tuple[np.ndarray, list[dict[float, int]] | None]] = []
            if pre is not None:
                if not isinstance(pre, ColumnTransformer):
                    raise _Unsupported("its internal preprocessor is not a ColumnTransformer")
                for name, transformer, mask in pre.transformers_:
                    if isinstance(transformer, str):
                        if transformer == "drop" and not np.any(mask):
                            continue
                        raise _Unsupported(f"its internal preprocessor's {name} is {transformer!r}")
                    columns = np.flatnonzero(np.asarray(mask)) if np.asarray(mask).dtype == bool else np.asarray(mask)
                    if isinstance(transformer, OrdinalEncoder):
                        if (transformer.handle_unknown != "use_encoded_value" or not np.isnan(transformer.unknown_value)
                                or not np.isnan(transformer.encoded_missing_value)
                                or getattr(transformer, "_infrequent_enabled", False)):
                            raise _Unsupported("its internal encoder is not the one HistGradientBoosting makes")
                        lookups = []
                        for cats in transformer.categories_:
                            cats = np.asarray(cats, dtype="float64")
                            lookups.append({float(c): i for i, c in enumerate(cats) if not np.isnan(c)})
                        self.recode.append((columns, lookups))
                    elif isinstance(transformer, FunctionTransformer):
                        self.recode.append((columns, None))
                    else:
                        raise _Unsupported(f"its internal preprocessor has a {type(transformer).__name__}")
        except AttributeError as exc:
            raise _Unsupported(f"this scikit-learn's HistGradientBoosting differs ({exc})") from None
        self.classes_ = getattr(estimator, "classes_", None)
        self.is_classifier = isinstance(estimator, HistGradientBoostingClassifier)
        return self

    def _raw(self, X: Any) -> Any:
        import numpy as np

        X = np.asarray(X, dtype="float64")
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected {self.n_features} prepared columns, got shape {X.shape}")
        if self.recode:
            blocks = []
            for columns, lookups in self.recode:
                block = X[:, columns]
                if lookups is not None:
                    nan = math.nan
                    block = np.array([[lk.get(v, nan) for lk, v in zip(lookups, row)] for row in block.tolist()],
                                     dtype="float64").reshape(block.shape)
                blocks.append(block)
            X = np.hstack(blocks)
        raw = np.zeros((X.shape[0], self.n_trees), dtype=self.baseline.dtype, order="F")
        raw += self.baseline
        for trees in self.predictors:
            for k, tree in enumerate(trees):
                raw[:, k] += tree.predict(X, self.known_cat_bitsets, self.f_idx_map, 1)
        return raw

    def predict_proba(self, X: Any) -> Any:
        if not self.is_classifier:
            raise AttributeError("a regressor has no predict_proba")
        return self.loss.predict_proba(self._raw(X))

    def predict(self, X: Any) -> Any:
        import numpy as np

        raw = self._raw(X)
        if not self.is_classifier:
            return self.loss.link.inverse(raw.ravel())
        codes = (raw.ravel() > 0).astype(int) if raw.shape[1] == 1 else np.argmax(raw, axis=1)
        return self.classes_[codes]


class _one_openmp_thread:
    """Limit OpenMP to one thread in the calling thread (per-thread in libgomp); restores on exit."""

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(1, user_api="openmp")

    def __exit__(self, *exc: object) -> None:
        self._limits.restore_original_limits()


def _limit_this_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="openmp")  # for the life of this (our own) thread


# ---------------------------------------------------------------------------------------------
# Request validation


def parse_request(payload: Any, features: dict[str, str]) -> ScoredRow:
    """Check one request ``{"features": {...}, "request_id": "..."}``; raise ``BadRequest`` naming the field."""
    if not isinstance(payload, dict):
        raise BadRequest(f"the request must be a JSON object like {{\"features\": {{...}}}}, not {_json_kind(payload)}")
    unknown_fields = sorted(set(payload) - {"features", "request_id"})
    if unknown_fields:
        raise BadRequest(f"unknown field(s) {', '.join(map(repr, unknown_fields))}: a request has 'features' "
                         "and optionally 'request_id'")
    request_id = payload.get("request_id")
    if request_id is None:
        request_id = uuid.uuid4().hex
    elif not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID or not request_id.isprintable():
        raise BadRequest(f"'request_id' must be a printable string of 1 to {MAX_REQUEST_ID} characters")
    given = payload.get("features")
    if not isinstance(given, dict):
        what = "missing" if given is None else _json_kind(given)
        raise BadRequest(f"'features' must be an object of feature values, not {what}: send "
                         f"{{\"features\": {{{', '.join(repr(n) + ': ...' for n in features)}}}}}")
    missing = [n for n in features if n not in given]
    unknown = sorted(n for n in given if n not in features)
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing feature(s) {', '.join(map(repr, missing))}")
        if unknown:
            parts.append(f"unknown feature(s) {', '.join(map(repr, unknown))}")
        raise BadRequest(f"{' and '.join(parts)}: the model takes exactly {', '.join(features)} "
                         "(send null for a missing value)")
    values: dict[str, Any] = {}
    numbers: dict[str, float] = {}
    for name, kind in features.items():
        value = given[name]
        if kind == "numeric":
            number = _number(name, value)
            numbers[name] = number
            values[name] = None if math.isnan(number) else number
        else:
            values[name] = _category(name, value)
    return ScoredRow(request_id, values, numbers)


def _number(name: str, value: Any) -> float:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars from in-process callers
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan  # null; or pandas' missing value from an in-process caller (JSON cannot carry NaN)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"feature '{name}' is numeric: send a number or null, not {_json_kind(value)}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise BadRequest(f"feature '{name}' is numeric but {_show(value)} is not a number: send a number or null") from None
    if not math.isfinite(number):
        raise BadRequest(f"feature '{name}' must be a finite number, or null when it is missing, not {_show(value)}")
    return number


def _category(name: str, value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars from in-process callers
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None  # pandas' missing value, as the training frame had it
        return value
    raise BadRequest(f"feature '{name}' is categorical: send a string, number, true/false or null, "
                     f"not {_json_kind(value)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if value is None:
        return "null"
    return "a number" if isinstance(value, (int, float)) else type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---------------------------------------------------------------------------------------------
# Scoring threads


class _ModelFailed(Exception):
    """One row's scoring raised; carries the model's message."""


class _Batcher:
    """One model's scoring thread: takes every waiting request and scores them in one frame."""

    def __init__(self, model: ServedModel) -> None:
        self.model = model
        self._max = MAX_BATCH if model.batch_safe else 1
        self._waiting: deque[tuple[ScoredRow, Future]] = deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"mlwb-score-v{model.version}", daemon=True)
        self._thread.start()

    def submit(self, row: ScoredRow) -> Future:
        future: Future = Future()
        with self._ready:
            self._waiting.append((row, future))
            self._ready.notify()
        return future

    def close(self) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join()

    def _run(self) -> None:
        _limit_this_thread()
        while True:
            with self._ready:
                while not self._waiting and not self._stopping:
                    self._ready.wait()
                if not self._waiting:
                    return
                batch = [self._waiting.popleft() for _ in range(min(self._max, len(self._waiting)))]
            for (_, future), outcome in zip(batch, score_rows(self.model, [row for row, _ in batch])):
                if isinstance(outcome, _ModelFailed):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


def score_rows(model: ServedModel, rows: list[ScoredRow]) -> list[tuple[Any, Any] | _ModelFailed]:
    """Score the rows together; if that raises, one by one, so only the offending rows fail."""
    try:
        return list(model.predict(rows))
    except Exception as exc:
        if len(rows) == 1:
            return [_ModelFailed(f"{type(exc).__name__}: {exc}")]
    return [score_rows(model, [row])[0] for row in rows]


@dataclass
class _Pending:
    """A served request waiting for the other model's answer before it is logged."""

    row: ScoredRow
    entry: dict[str, Any]
    other: ServedModel


class _OtherModelScorer:
    """The background thread that scores the other model (shadow or canary counterpart) and
    hands finished log rows to the writer. Its answers are never returned to a client."""

    def __init__(self, writer: PredictionLogWriter, metrics: ServingMetrics) -> None:
        self._writer = writer
        self._metrics = metrics
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mlwb-shadow", daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def submit(self, pending: _Pending) -> None:
        self._queue.put(pending)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        _limit_this_thread()
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = time.monotonic() + SHADOW_LINGER_S
            while len(batch) < SHADOW_BATCH:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stopping = True  # score what is here, then stop
                    break
                batch.append(item)
            self._score(batch)

    def _score(self, batch: list[_Pending]) -> None:
        by_model: dict[int, list[_Pending]] = {}
        for pending in batch:
            by_model.setdefault(pending.other.id, []).append(pending)
        for group in by_model.values():
            model = group[0].other
            started = time.perf_counter()
            try:
                outcomes = score_rows(model, [p.row for p in group])
            except Exception as exc:  # never lose the log rows because the other model broke
                outcomes = [_ModelFailed(f"{type(exc).__name__}: {exc}")] * len(group)
            elapsed_ms = (time.perf_counter() - started) * 1000
            for pending, outcome in zip(group, outcomes):
                if isinstance(outcome, _ModelFailed):
                    self._metrics.count("shadow_failed")
                else:
                    pending.entry["other_prediction"] = {"prediction": outcome[0], "score": outcome[1]}
                    pending.entry["other_latency_ms"] = round(elapsed_ms, 3)
                    self._metrics.count("shadow_scored")
                self._writer.add(pending.entry)


# ---------------------------------------------------------------------------------------------
# The prediction log


class PredictionLogWriter:
    """Batches ``PredictionLog`` rows on a thread and inserts them every ``interval`` seconds or
    ``max_rows`` rows, whichever comes first. ``close()`` returns only when every row given to
    ``add`` is in the database (or raises, saying how many are not).

    Log rows are data, not governance changes: they are inserted with a plain write session,
    not audited one by one (starting and stopping the service is audited).
    """

    def __init__(self, wb: Workbench, *, interval: float = 0.05, max_rows: int = 200) -> None:
        self.wb = wb
        self.interval = interval
        self.max_rows = max_rows
        self.written = 0
        self.renamed = 0
        self.last_error = ""
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._unwritten: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="mlwb-prediction-log", daemon=True)
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        self._queue.put(row)

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self._unwritten)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._unwritten:
            raise WorkbenchError(
                f"{len(self._unwritten)} scored request(s) could not be written to the prediction log "
                f"({self.last_error}): check that the workspace's disk is writable and not full")

    def _run(self) -> None:
        rows: list[dict[str, Any]] = []
        deadline = math.inf
        while True:
            timeout = None if not rows else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = ...
            if item is None:  # close(): drain everything, trying hard before giving up
                while True:
                    try:
                        rest = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if rest is not None:
                        rows.append(rest)
                self._flush(rows, attempts=5)
                return
            if item is not ...:
                if not rows:
                    deadline = time.monotonic() + self.interval
                rows.append(item)
            if rows and (len(rows) >= self.max_rows or time.monotonic() >= deadline):
                self._flush(rows, attempts=1)
                rows = []

    def _flush(self, rows: list[dict[str, Any]], *, attempts: int) -> None:
        rows = self._unwritten + rows
        self._unwritten = []
        for start in range(0, len(rows), self.max_rows):
            chunk = rows[start:start + self.max_rows]
            for attempt in range(attempts):
                try:
                    self._insert(chunk)
                    break
                except Exception as exc:  # the database is locked or unwritable: keep the rows, retry
                    self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                    log.warning("prediction log insert failed (%s); will retry", self.last_error)
                    if attempt + 1 < attempts:
                        time.sleep(0.2 * (attempt + 1))
            else:
                self._unwritten.extend(chunk)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self.wb.db.write() as session:
                session.execute(insert(PredictionLog), rows)
        except IntegrityError:
            # A client reused a request id that an earlier run of the service already logged
            # (this run refuses reuse among its last RECENT_IDS requests). The first row keeps the id, so labels joined to
            # it stay where they were; this row is kept under a derived id instead of being lost.
            with self.wb.db.write() as session:
                ids = [r["request_id"] for r in rows]
                taken = set(session.scalars(select(PredictionLog.request_id).where(
                    PredictionLog.request_id.in_(ids))))
                renamed = []
                for row in rows:
                    original = row["request_id"]
                    if original in taken:
                        row["request_id"] = f"{original[:MAX_REQUEST_ID - 17]}#dup-{uuid.uuid4().hex[:12]}"
                        renamed.append(f"{original} -> {row['request_id']}")
                    taken.add(original)  # also a second use within this batch
                session.execute(insert(PredictionLog), rows)
            self.renamed += len(renamed)
            log.warning("%d request id(s) were already in the prediction log from an earlier run and were "
                        "logged under derived ids: %s", len(renamed), "; ".join(renamed[:3]) + (
                            "; ..." if len(renamed) > 3 else ""))
        self.written += len(rows)


# ---------------------------------------------------------------------------------------------
# Metrics


class ServingMetrics:
    """Counters and the latency histogram of one service run; thread-safe, plain numbers out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = dict.fromkeys(ROUTES, 0)
        self.counts = {"errors": 0, "bad_requests": 0, "shadow_scored": 0, "shadow_failed": 0,
                       "shadow_skipped": 0}
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def observe(self, route: str, seconds: float, *, failed: bool = False) -> None:
        with self._lock:
            self.requests[route] += 1
            if failed:
                self.counts["errors"] += 1
            self.latency_sum += seconds
            self.latency_count += 1
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1
                    break

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def snapshot(self) -> dict[str, Any]:
        """Cumulative histogram buckets (as Prometheus wants them), counters and sums."""
        with self._lock:
            cumulative, running = [], 0
            for bound, n in zip(LATENCY_BUCKETS, self.buckets):
                running += n
                cumulative.append((bound, running))
            return {"requests": dict(self.requests), **self.counts, "latency_buckets": cumulative,
                    "latency_sum": self.latency_sum, "latency_count": self.latency_count}


# ---------------------------------------------------------------------------------------------
# The service


class ScoringService:
    """Scores requests with the production model (or, for a ``canary_share`` of them, the
    challenger), scores the other model in the background, and logs every scored request.

    Starting it loads both models (hash-checked, allow-listed) and audits "serving.started";
    ``close()`` drains the log and audits "serving.stopped". Thread-safe: ``score`` may be called
    from many threads at once.
    """

    def __init__(self, wb: Workbench, slug: str, *, shadow: bool = True, canary_share: float = 0.0,
                 seed: int | None = None) -> None:
        if not (isinstance(canary_share, (int, float)) and 0.0 <= canary_share <= 1.0):
            raise WorkbenchError(f"the canary share must be between 0 and 1, not {canary_share}")
        self.wb = wb
        self.slug = slug
        self.models = ServingModels.load(wb, slug)
        challenger = self.models.challenger
        if canary_share > 0 and challenger is None:
            raise WorkbenchError(
                f"a canary share of {canary_share:g} needs a challenger, and '{slug}' has none: set one with "
                f"`mlwb alias {slug} VERSION`, or serve without --canary-share")
        self.shadow = bool(shadow) and challenger is not None
        self.canary_share = float(canary_share)
        self.seed = seed
        self.features = self.models.features
        self.session_id = uuid.uuid4().hex[:12]
        self.metrics = ServingMetrics()
        self._rng = random.Random(seed)
        self._recent: deque[str] = deque()
        self._recent_set: set[str] = set()
        self._ids_lock = threading.Lock()
        self._state = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._closing = False
        self.summary: dict[str, Any] = {}
        with wb.unit_of_work() as uow:
            project = uow.project(slug)
            uow.audit("serving.started", "project", project.id, project=slug,
                      production=self.models.production.version,
                      challenger=challenger.version if challenger else None,
                      shadow=self.shadow, canary_share=self.canary_share, session=self.session_id)
        self._writer = PredictionLogWriter(wb)
        self._others = _OtherModelScorer(self._writer, self.metrics)
        self._batchers = {self.models.production.id: _Batcher(self.models.production)}
        if challenger is not None and self.canary_share > 0:
            self._batchers[challenger.id] = _Batcher(challenger)

    # -- what the HTTP adapter shows

    @property
    def log_backlog(self) -> int:
        """Scored requests not yet in the prediction log (waiting for the other model or the writer)."""
        return self._writer.pending + self._others.backlog

    def health(self) -> dict[str, Any]:
        challenger = self.models.challenger
        return {"status": "stopping" if self._closing else "ok", "project": self.slug,
                "production_version": self.models.production.version,
                "challenger_version": challenger.version if challenger else None,
                "canary_share": self.canary_share, "shadow": self.shadow}

    # -- scoring

    def score(self, payload: Any) -> dict[str, Any]:
        """Validate and score one request; returns ``{"request_id", "prediction", "score",
        "model_version", "route"}``. Raises ``BadRequest`` / ``DuplicateRequest`` (nothing is
        logged), ``ScoringFailed`` (logged with the error) or ``ServiceClosed``."""
        started = time.perf_counter()
        with self._state:
            if self._closing:
                raise ServiceClosed("the scoring service is stopping: send the request again when it is back")
            self._in_flight += 1
        try:
            return self._score(payload, started)
        finally:
            with self._state:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._state.notify_all()

    def _score(self, payload: Any, started: float) -> dict[str, Any]:
        try:
            row = parse_request(payload, self.features)
            self._claim(row.request_id)
        except BadRequest:
            self.metrics.count("bad_requests")
            raise
        production, challenger = self.models.production, self.models.challenger
        canary = challenger is not None and self.canary_share > 0 and self._rng.random() < self.canary_share
        if canary:
            served, other, route = challenger, production, "canary"
        else:
            served, other, route = production, (challenger if self.shadow else None), "production"
        entry: dict[str, Any] = {
            "project_id": self.models.project_id, "request_id": row.request_id, "ts": utcnow(), "route": route,
            "served_version_id": served.id, "other_version_id": None, "features": row.values,
            "prediction": None, "other_prediction": None, "latency_ms": 0.0, "other_latency_ms": None,
            "error": "",
        }
        try:
            prediction, score = self._batchers[served.id].submit(row).result(timeout=SCORE_TIMEOUT_S)
        except (_ModelFailed, FutureTimeout) as exc:
            if isinstance(exc, FutureTimeout):
                why = f"no answer within {SCORE_TIMEOUT_S:.0f} s (the service is overloaded or stuck: restart it)"
            else:
                why = str(exc)
            elapsed = time.perf_counter() - started
            entry["latency_ms"], entry["error"] = round(elapsed * 1000, 3), why[:2000]
            self._writer.add(entry)
            self.metrics.observe(route, elapsed, failed=True)
            raise ScoringFailed(f"model version {served.version} could not score request {row.request_id}: "
                                f"{why}") from None
        response = {"request_id": row.request_id, "prediction": prediction, "score": score,
                    "model_version": served.version, "route": route}
        elapsed = time.perf_counter() - started
        entry["prediction"] = {"prediction": prediction, "score": score}
        entry["latency_ms"] = round(elapsed * 1000, 3)
        if other is not None and self._others.backlog < SHADOW_BACKLOG:
            entry["other_version_id"] = other.id
            self._others.submit(_Pending(row, entry, other))
        else:
            if other is not None:  # the other model cannot keep up: log without its answer
                self.metrics.count("shadow_skipped")
            self._writer.add(entry)
        self.metrics.observe(route, elapsed)
        return response

    def _claim(self, request_id: str) -> None:
        with self._ids_lock:
            if request_id in self._recent_set:
                raise DuplicateRequest(f"request_id {request_id!r} was already used: send a new id for every "
                                       "request (labels are joined to requests by it)")
            self._recent.append(request_id)
            self._recent_set.add(request_id)
            if len(self._recent) > RECENT_IDS:
                self._recent_set.discard(self._recent.popleft())

    # -- stopping

    def close(self, *, timeout: float = 30.0) -> dict[str, Any]:
        """Stop taking requests, finish those in flight, drain the log, audit "serving.stopped".

        Returns (and keeps as ``summary``) the counts; a second call returns the same summary.
        """
        with self._state:
            if self._closed:
                return self.summary
            self._closing = True
            deadline = time.monotonic() + timeout
            while self._in_flight and time.monotonic() < deadline:
                self._state.wait(timeout=max(0.0, deadline - time.monotonic()))
            self._closed = True
        for batcher in self._batchers.values():
            batcher.close()
        self._others.close()
        failure: WorkbenchError | None = None
        try:
            self._writer.close()
        except WorkbenchError as exc:
            failure = exc
        stats = self.metrics.snapshot()
        served = sum(stats["requests"].values())
        self.summary = {
            "requests": served, "by_route": stats["requests"], "errors": stats["errors"],
            "bad_requests": stats["bad_requests"], "shadow_scored": stats["shadow_scored"],
            "shadow_failed": stats["shadow_failed"], "shadow_skipped": stats["shadow_skipped"],
            "logged": self._writer.written, "not_logged": self._writer.pending,
            "renamed_duplicate_ids": self._writer.renamed,
        }
        with self.wb.unit_of_work() as uow:
            project = uow.project(self.slug)
            uow.audit("serving.stopped", "project", project.id, project=self.slug, session=self.session_id,
                      **self.summary)
        if failure is not None:
            raise failure
        return self.summary

    def __enter__(self) -> ScoringService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# Batch scoring of a file


OUTPUT_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def score_file(wb: Workbench, slug: str, path: str | os.PathLike[str], out: str | os.PathLike[str]) -> dict[str, Any]:
    """Score every row of a CSV/Parquet file with the production model; write the input columns
    plus ``prediction`` (and ``score``) to ``out`` (CSV or Parquet by its suffix).

    The model file is hash-checked and allow-listed as for serving; the output is written to a
    temporary file and moved into place in the same step that audits "model.batch_scored", so a
    failure leaves no half-written output.
    """
    import numpy as np
    import pandas as pd

    from app.ml.errors import DataFileError
    from app.ml.tabular import load_table
    from app.ml.training import predict_output

    source, target = Path(path), Path(out)
    out_format = OUTPUT_SUFFIXES.get(target.suffix.lower())
    if out_format is None:
        raise WorkbenchError(f"the output {target.name} must end in .csv or .parquet, so its format is clear")
    if not target.parent.is_dir():
        raise WorkbenchError(f"the output folder {target.parent} does not exist: create it or choose another --out")
    if source.exists() and target.exists() and source.resolve() == target.resolve():
        raise WorkbenchError(f"--out {target.name} is the input file itself: choose another output file")
    with wb.read() as session:
        project = find_project(session, slug)
        mv = production_version(session, project)
        if mv is None:
            raise WorkbenchError(f"'{slug}' has no production model version to score with: promote a version "
                                 f"first: mlwb promote {slug} VERSION")
        served = _load_version(wb, session, project, mv, "production", probe=False)
    try:
        frame = load_table(source).frame
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    absent = [name for name in served.features if name not in frame.columns]
    if absent:
        raise WorkbenchError(
            f"{source.name} has no column {', '.join(map(repr, absent))} that model version {served.version} needs "
            f"(it reads {', '.join(served.features)}): add the column(s) and score again")
    clash = [c for c in ("prediction", "score") if c in frame.columns]
    if clash:
        raise WorkbenchError(f"{source.name} already has a column {', '.join(map(repr, clash))}, which the output "
                             "would overwrite: rename it and score again")
    X = frame[list(served.features)].copy()
    for name in served.numeric:
        converted = pd.to_numeric(X[name], errors="coerce")
        bad = int((converted.isna() & X[name].notna()).sum())
        if bad:
            example = X[name][converted.isna() & X[name].notna()].iloc[0]
            raise WorkbenchError(f"column '{name}' of {source.name} must be numeric but {bad} value(s) are not "
                                 f"numbers (for example {_show(example)}): clean them and score again")
        X[name] = converted.astype("float64")
    if len(X):
        predicted, score = predict_output(served.model, X, served.problem_type, served.n_classes)
    else:
        predicted, score = np.empty(0, dtype="int64"), None
    result = frame.copy()
    result["prediction"] = predicted
    if score is not None and np.ndim(score) == 1:
        result["score"] = score
    elif score is not None:
        for k in range(np.shape(score)[1]):
            result[f"score_{k}"] = score[:, k]
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if out_format == "csv":
            result.to_csv(tmp, index=False)
        else:
            result.to_parquet(tmp, index=False)
        summary = {"rows": int(len(result)), "version": served.version, "input": str(source), "out": str(target),
                   "problem_type": served.problem_type}
        with wb.unit_of_work() as uow:
            uow.audit("model.batch_scored", "model_version", served.id, project=slug, version=served.version,
                      rows=summary["rows"], input=source.name, output=target.name,
                      input_sha256=_sha256(source), output_sha256=_sha256(tmp))
            os.replace(tmp, target)
        return summary
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def iter_exposition(service: ScoringService) -> Iterable[str]:
    """The service's metrics in the Prometheus text exposition format (version 0.0.4), line by line."""
    stats = service.metrics.snapshot()

    def family(name: str, kind: str, help_text: str) -> Iterable[str]:
        yield f"# HELP {name} {help_text}"
        yield f"# TYPE {name} {kind}"

    yield from family("mlwb_requests_total", "counter", "Requests scored, by the route that answered them.")
    for route in ROUTES:
        yield f'mlwb_requests_total{{route="{route}"}} {stats["requests"][route]}'
    yield from family("mlwb_request_errors_total", "counter",
                      "Requests the served model failed to score (answered with HTTP 500).")
    yield f"mlwb_request_errors_total {stats['errors']}"
    yield from family("mlwb_bad_requests_total", "counter",
                      "Requests refused before scoring because of the request (HTTP 4xx).")
    yield f"mlwb_bad_requests_total {stats['bad_requests']}"
    yield from family("mlwb_request_latency_seconds", "histogram",
                      "Server-side time to answer a scored request, from the parsed body to the response.")
    for bound, count in stats["latency_buckets"]:
        yield f'mlwb_request_latency_seconds_bucket{{le="{_le(bound)}"}} {count}'
    yield f'mlwb_request_latency_seconds_bucket{{le="+Inf"}} {stats["latency_count"]}'
    yield f"mlwb_request_latency_seconds_sum {_float(stats['latency_sum'])}"
    yield f"mlwb_request_latency_seconds_count {stats['latency_count']}"
    yield from family("mlwb_model_version", "gauge", "Version number of the model in each role.")
    yield f'mlwb_model_version{{role="production"}} {service.models.production.version}'
    if service.models.challenger is not None:
        yield f'mlwb_model_version{{role="challenger"}} {service.models.challenger.version}'
    yield from family("mlwb_shadow_predictions_total", "counter",
                      "Answers of the other model (shadow or canary counterpart), by outcome; never returned.")
    for outcome, key in (("scored", "shadow_scored"), ("failed", "shadow_failed"), ("skipped", "shadow_skipped")):
        yield f'mlwb_shadow_predictions_total{{outcome="{outcome}"}} {stats[key]}'
    yield from family("mlwb_prediction_log_pending", "gauge", "Scored requests not yet written to the prediction log.")
    yield f"mlwb_prediction_log_pending {service.log_backlog}"


def _le(bound: float) -> str:
    return repr(float(bound))


def _float(value: float) -> str:
    return repr(float(value))


__all__ = [
    "BadRequest", "DuplicateRequest", "PredictionLogWriter", "ScoringFailed", "ScoringService", "ServedModel",
    "ServiceClosed", "ServingMetrics", "ServingModels", "iter_exposition", "parse_request", "score_file",
]

