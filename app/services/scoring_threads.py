"""The threads that score, so that neither a burst of requests nor the other model adds to a
response's latency.

* Each served model has one scoring thread (``MicroBatcher``) that takes every request waiting
  at that moment and scores them in one call: under concurrent load a request waits for at most
  the batch in flight instead of queueing for the GIL behind every other request. Only a model
  whose answers are bit-identical scored together or one by one (``ServedModel.batch_safe``,
  checked at load) gets more than one row per call.
* The other model (shadow, or production as a canary's counterpart) is scored on one background
  thread (``OtherModelScorer``), in batches of up to ``SHADOW_BATCH`` gathered over
  ``SHADOW_LINGER_S``; its answer goes to the ``PredictionLogWriter`` as an update of the row the
  request already committed, so no response waits for the other model. Both work in batches
  because they share the GIL with the request threads.

Every scoring thread runs with one OpenMP thread (see ``app.ml.served_model``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.ml.served_model import ScoredRow, ServedModel, one_openmp_thread

if TYPE_CHECKING:
    from app.services.prediction_log import LogEntry, PredictionLogWriter
    from app.services.serving_metrics import ServingMetrics

MAX_BATCH = 64  # rows a served model scores in one call
SHADOW_BATCH = 64  # rows the other model scores in one call (keeps other_latency_ms meaningful)
SHADOW_LINGER_S = 0.05  # how long the shadow thread waits to fill a batch (fewer, larger batches)


class ModelFailed(Exception):
    """One row's scoring raised; carries the model's message."""


class MicroBatcher:
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
        one_openmp_thread()  # for the life of this (our own) thread
        while True:
            with self._ready:
                while not self._waiting and not self._stopping:
                    self._ready.wait()
                if not self._waiting:
                    return
                batch = [self._waiting.popleft() for _ in range(min(self._max, len(self._waiting)))]
            for (_, future), outcome in zip(batch, score_rows(self.model, [row for row, _ in batch])):
                if isinstance(outcome, ModelFailed):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


def score_rows(model: ServedModel, rows: list[ScoredRow]) -> list[tuple[Any, Any] | ModelFailed]:
    """Score the rows together; if that raises, one by one, so only the offending rows fail."""
    try:
        return list(model.predict(rows))
    except Exception as exc:
        if len(rows) == 1:
            return [ModelFailed(f"{type(exc).__name__}: {exc}")]
    return [score_rows(model, [row])[0] for row in rows]


@dataclass
class PendingLogRow:
    """A served request (its row already given to the log writer) waiting for the other model's answer."""

    row: ScoredRow
    entry: LogEntry
    other: ServedModel


class OtherModelScorer:
    """The background thread that scores the other model (shadow or canary counterpart) and
    hands its answers to the writer as updates of the logged rows. Its answers are never
    returned to a client."""

    def __init__(self, writer: PredictionLogWriter, metrics: ServingMetrics) -> None:
        self._writer = writer
        self._metrics = metrics
        self._queue: queue.SimpleQueue[PendingLogRow | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mlwb-shadow", daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def submit(self, pending: PendingLogRow) -> None:
        self._queue.put(pending)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        one_openmp_thread()  # for the life of this (our own) thread
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

    def _score(self, batch: list[PendingLogRow]) -> None:
        by_model: dict[int, list[PendingLogRow]] = {}
        for pending in batch:
            by_model.setdefault(pending.other.id, []).append(pending)
        for group in by_model.values():
            model = group[0].other
            started = time.perf_counter()
            outcomes = score_rows(model, [p.row for p in group])  # a failure is an outcome: no log row is lost
            elapsed_ms = (time.perf_counter() - started) * 1000
            for pending, outcome in zip(group, outcomes):
                if isinstance(outcome, ModelFailed):  # the row stays without other_prediction
                    self._metrics.count("shadow_failed")
                else:
                    self._writer.add_other(pending.entry, {
                        "other_prediction": {"prediction": outcome[0], "score": outcome[1]},
                        "other_latency_ms": round(elapsed_ms, 3)})
                    self._metrics.count("shadow_scored")
