"""A model version loaded for serving, the validated rows it scores, and the start-up checks
that decide how it scores them.

Pure computation: ``app.services.serving`` reads the model file and builds a ``ServedModel``,
``app.services.scoring_requests`` turns a request into a ``ScoredRow``; nothing here touches
the database or a request.

Two checks run once, at load, on probe rows made from the training data's profile
(``probe_rows``): whether the compiled path may serve (``app.ml.compiled_pipeline``), and
whether rows scored together get bit-identical answers to rows scored one by one
(``answers_alike_in_batches``); only such a model is micro-batched.

HistGradientBoosting predicts with an OpenMP team per calling thread; for one row the team only
spins, and on a busy 2-core machine single-row predictions took up to seconds. So the checks
and the scoring threads run with one OpenMP thread (``one_openmp_thread``: a per-thread
setting, the rest of the process keeps its own).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)

PROBE_ROWS = 16


@dataclass(frozen=True)
class ScoredRow:
    """One validated request's inputs: what each model's frame is built from, and what is logged."""

    request_id: str
    values: dict[str, Any]  # feature -> JSON value as logged (numbers as float, missing as None)
    numbers: dict[str, float]  # numeric features as float64 (NaN when missing)


class CompiledPath(Protocol):
    """What scoring needs of a compiled path (``app.ml.compiled_pipeline.FastPreparation``): the
    rows as the estimator's input, and the estimator. Named here, so that this module does not
    import the module that compiles (which imports this one)."""

    estimator: Any

    def transform(self, rows: list[ScoredRow]) -> Any: ...


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
    fast: CompiledPath | None = None  # the compiled path, when checked equal to the pipeline
    # Test-only: seconds slept per ``predict`` call (one batch), to play a slow or busy machine
    # end to end; set from MLWB_TEST_SCORING_DELAY_MS by ``app.services.serving``, 0 in service.
    test_delay_s: float = 0.0

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
        if self.test_delay_s:
            import time

            time.sleep(self.test_delay_s)
        predicted, score = self.predict_arrays(rows)
        values = predicted.tolist()
        scores = [None] * len(values) if score is None else score.tolist()
        return list(zip(values, scores))

    def predict_arrays(self, rows: list[ScoredRow], *, generic: bool = False):  # type: ignore[no-untyped-def]
        """``predict_output``'s (prediction, score) arrays: through the compiled path when there is
        one (and not ``generic``), else through the pipeline on a DataFrame of the rows."""
        from app.ml.fitting import predict_output

        if self.fast is not None and not generic:
            return predict_output(self.fast.estimator, self.fast.transform(rows), self.problem_type, self.n_classes)
        return predict_output(self.model, self.frame(rows), self.problem_type, self.n_classes)


def probe_rows(features: dict[str, str], profile: dict[str, Any]) -> list[ScoredRow]:
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


def same_answers(a: tuple[Any, Any], b: tuple[Any, Any]) -> bool:
    """Bit-identical (prediction, score) pairs; NaN equals NaN."""
    import numpy as np

    for x, y in zip(a, b):
        if (x is None) != (y is None):
            return False
        if x is not None and not (np.shape(x) == np.shape(y) and np.array_equal(np.asarray(x), np.asarray(y),
                                                                               equal_nan=True)):
            return False
    return True


def answers_alike_in_batches(model: ServedModel, rows: list[ScoredRow]) -> bool:
    """True when scoring the rows together gives bit-identical answers to scoring them one by one."""
    import numpy as np

    try:
        together = model.predict_arrays(rows)
        alone = [model.predict_arrays([r]) for r in rows]
        stacked = tuple(None if part[0] is None else np.concatenate(part) for part in zip(*alone))
    except Exception:  # a model that cannot score a probe row is served one row at a time
        log.warning("model version %s failed on probe rows; serving it one row at a time", model.version,
                    exc_info=True)
        return False
    return same_answers(together, stacked)  # type: ignore[arg-type]


def one_openmp_thread() -> threadpool_limits:
    """Limit OpenMP to one thread in the calling thread (per-thread in libgomp). In a ``with``
    block the previous limit comes back on exit; called bare, the limit holds for the rest of
    the thread's life (meant for the service's own scoring threads)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp")
