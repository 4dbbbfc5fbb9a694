"""Stage 5 serving: the production model answers requests, a challenger runs beside it in shadow
or as a canary, and every scored request lands in the prediction log.

No HTTP here: ``app.scoring_server`` is the HTTP adapter, as ``app.cli`` is the CLI adapter, and
the demo calls ``ScoringService.score`` in-process. This module decides and persists: it loads
the models (``ServingModels``), routes each request, logs it and audits the service's start and
stop; ``score_file`` scores a whole file. The parts it puts together, one job each:

* ``app.ml.served_model`` — a loaded model scoring validated rows; probe rows and the batching check
* ``app.ml.compiled_pipeline`` — the pipeline rebuilt as plain numpy, served only if bit-identical
* ``app.services.scoring_requests`` — ``parse_request``: a request body checked field by field
* ``app.services.scoring_threads`` — micro-batching per served model; the other model in background
* ``app.services.prediction_log`` — ``PredictionLogWriter``: log rows group-committed; a
  request is answered only once its row is committed, so an acknowledged request is never lost
* ``app.services.serving_metrics`` — counters, latency histogram, Prometheus exposition

What the log holds (read by ``release_analysis`` and ``monitoring_batches``): ``prediction`` and
``other_prediction`` are ``{"prediction": ..., "score": ...}`` (score None where the problem type
has none); ``latency_ms`` is the server-side time from the parsed request to the answer being ready,
batch wait included (the wait for the row's own commit, which follows, cannot be in the row:
``/metrics`` counts it); ``other_latency_ms`` is the time the other model took to score the batch
(≤ 64 rows) this request was scored in — an upper bound of its one-request compute time, so a
shadow latency guardrail errs on the safe side. ``error`` is set only when the served model
failed (the client got an error); a failed or skipped shadow leaves ``other_prediction`` None, and
so does a crash between a row's commit and the other model's answer (written as an update).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.errors import WorkbenchError
from app.ml.compiled_pipeline import verified_fast_preparation
from app.ml.served_model import ServedModel, answers_alike_in_batches, one_openmp_thread, probe_rows
from app.services import state_binding
from app.services.prediction_log import LogNotWritten, PredictionLogWriter
from app.services.registry import production_version
from app.services.scoring_requests import BadRequest, parse_request, show_value
from app.services.scoring_threads import MicroBatcher, ModelFailed, OtherModelScorer, PendingLogRow
from app.services.serving_metrics import ServingMetrics, iter_exposition
from app.services.workbench import Workbench, find_project
from storage.artifacts import ArtifactCorrupted
from storage.models import DatasetVersion, ModelVersion, Project, Run, utcnow

SHADOW_BACKLOG = 10_000  # beyond this, new requests are logged without a shadow prediction
RECENT_IDS = 100_000  # request ids remembered to refuse a reused one (older ones: see the log writer)
SCORE_TIMEOUT_S = 30.0
#: Test-only switch: milliseconds every served model sleeps per scoring call (per batch), in
#: production and shadow alike, to play a slow or busy machine in an end-to-end test (the demo's
#: story must hold on one). Never set it in service.
TEST_DELAY_ENV = "MLWB_TEST_SCORING_DELAY_MS"
# How long a request waits for its log row's commit. Longer than the busy timeout (15 s), so a
# database locked by another process for a while delays answers rather than failing them.
LOG_TIMEOUT_S = 30.0


class DuplicateRequest(BadRequest):
    """A request id this service has already answered (HTTP 409)."""

    status = 409


class ScoringFailed(WorkbenchError):
    """The served model raised on a valid request (HTTP 500); the request is logged with the error."""

    status = 500


class ServiceClosed(WorkbenchError):
    """The service is stopping and takes no new requests (HTTP 503)."""

    status = 503


class LogFailed(WorkbenchError):
    """The request was scored but its log row could not be committed, so the answer is withheld
    (HTTP 503): the request id is free again and the client may send it once more."""

    status = 503


# ---------------------------------------------------------------------------------------------
# The models


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
        delay = _test_delay_s()
        for served in (production, challenger):
            if served is not None:
                served.test_delay_s = delay  # after the load-time probes, which stay fast
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


def _test_delay_s() -> float:
    raw = os.environ.get(TEST_DELAY_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        delay = float(raw)
    except ValueError:
        raise WorkbenchError(f"{TEST_DELAY_ENV}={raw!r} is not a number of milliseconds: unset it (it is a "
                             "test-only delay)") from None
    if not (math.isfinite(delay) and delay >= 0):
        raise WorkbenchError(f"{TEST_DELAY_ENV} must be zero or more milliseconds, not {raw!r}: unset it")
    return delay / 1000.0


def _load_version(wb: Workbench, session, project: Project, mv: ModelVersion, role: str, *,  # type: ignore[no-untyped-def]
                  probe: bool = True) -> ServedModel:
    """Load a version's model file, hash-checked and allow-listed, with what scoring it needs.

    ``probe``: also compile the fast path and decide batching from probe rows (serving only).
    """
    from app.ml.model_files import load_model

    what = f"the {role} model (version {mv.version} of '{project.slug}') was not loaded"
    state_binding.raise_on(state_binding.check_rows(session, wb.key.secret_at, [(ModelVersion, mv.id)]),
                           f"serve version {mv.version} of '{project.slug}'")
    run = session.get(Run, mv.run_id)
    sha = mv.artifact_sha256
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
        probes = probe_rows(features, profile)
        with one_openmp_thread():
            served.fast = verified_fast_preparation(served, probes)
            served.batch_safe = answers_alike_in_batches(served, probes)
    return served


# ---------------------------------------------------------------------------------------------
# The service


class ScoringService:
    """Scores requests with the production model (or, for a ``canary_share`` of them, the
    challenger), scores the other model in the background, and logs every scored request.

    Starting it loads both models (hash-checked, allow-listed) and audits "serving.started";
    ``close()`` drains the log and audits "serving.stopped". Thread-safe: ``score`` may be called
    from many threads at once.

    ``score`` returns only once the request's log row is committed. ``wait_for_log=False`` is the
    design this replaced (the answer went out before its row was written, and a ``kill -9`` lost
    acknowledged requests): kept only so ``bench.serving_latency`` can measure what waiting costs.
    """

    def __init__(self, wb: Workbench, slug: str, *, shadow: bool = True, canary_share: float = 0.0,
                 seed: int | None = None, wait_for_log: bool = True) -> None:
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
        self.wait_for_log = wait_for_log
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
        self._others = OtherModelScorer(self._writer, self.metrics)
        self._batchers = {self.models.production.id: MicroBatcher(self.models.production)}
        if challenger is not None and self.canary_share > 0:
            self._batchers[challenger.id] = MicroBatcher(challenger)

    # -- what the HTTP adapter shows

    @property
    def log_backlog(self) -> int:
        """Log rows and other-model answers not yet committed (waiting for the other model or the writer)."""
        return self._writer.pending + self._others.backlog

    def exposition(self) -> Iterable[str]:
        """``GET /metrics``: the counters in the Prometheus text format, line by line."""
        challenger = self.models.challenger
        return iter_exposition(self.metrics.snapshot(), production=self.models.production.version,
                               challenger=challenger.version if challenger else None, log_backlog=self.log_backlog)

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
        except (ModelFailed, FutureTimeout) as exc:
            if isinstance(exc, FutureTimeout):
                why = f"no answer within {SCORE_TIMEOUT_S:.0f} s (the service is overloaded or stuck: restart it)"
            else:
                why = str(exc)
            elapsed = time.perf_counter() - started
            entry["latency_ms"], entry["error"] = round(elapsed * 1000, 3), why[:2000]
            self._writer.add(entry)  # not waited for: the client is told of the failure, not of success
            self.metrics.observe(route, elapsed, failed=True)
            raise ScoringFailed(f"model version {served.version} could not score request {row.request_id}: "
                                f"{why}") from None
        response = {"request_id": row.request_id, "prediction": prediction, "score": score,
                    "model_version": served.version, "route": route}
        elapsed = time.perf_counter() - started
        entry["prediction"] = {"prediction": prediction, "score": score}
        entry["latency_ms"] = round(elapsed * 1000, 3)
        shadowed = other is not None and self._others.backlog < SHADOW_BACKLOG
        if shadowed:
            entry["other_version_id"] = other.id
        elif other is not None:  # the other model cannot keep up: log without its answer
            self.metrics.count("shadow_skipped")
        logged = self._writer.add(entry)
        if shadowed:  # its answer updates the row later; the response does not wait for it
            self._others.submit(PendingLogRow(row, logged, other))
        if self.wait_for_log:
            try:
                logged.wait(LOG_TIMEOUT_S)
            except LogNotWritten as exc:
                self._release(row.request_id)
                self.metrics.count("log_failed")
                raise LogFailed(f"request {row.request_id} was scored but not acknowledged: {exc}. Nothing was "
                                "recorded as answered; send it again (same request_id) once the workspace's "
                                "database is writable") from None
        self.metrics.observe(route, time.perf_counter() - started)
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

    def _release(self, request_id: str) -> None:
        """Free an id whose answer was withheld, so the client's retry is not refused as a reuse.
        (It stays in the deque: when it ages out, a retry's claim is forgotten early; harmless.)"""
        with self._ids_lock:
            self._recent_set.discard(request_id)

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
            "logged": self._writer.written, "not_logged": self._writer.failed,
            "other_answers_lost": self._writer.other_lost, "log_commits": self._writer.commits,
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
    from app.ml.fitting import predict_output

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
                                 f"numbers (for example {show_value(example)}): clean them and score again")
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
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


__all__ = [
    "BadRequest", "DuplicateRequest", "LogFailed", "ScoringFailed", "ScoringService", "ServiceClosed", "ServingModels",
    "score_file",
]
