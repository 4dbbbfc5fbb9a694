"""The compiled path: a fitted scikit-learn pipeline rebuilt once, at load, as the same
arithmetic on plain numpy, and allowed to serve only when it answers bit for bit like the
pipeline.

Why: through its sklearn Pipeline, one row costs 5–6 ms on this 2-core machine, nearly all of
it per-call overhead (DataFrame indexing, validation, feature-name checks, joblib dispatch;
HistGradientBoosting re-codes its categorical columns in a second internal ColumnTransformer).
Compiled (``FastPreparation``, ``FastHistGradientBoosting``): 5.7 → 0.84 ms for the demo's
HistGradientBoosting, 5.3 → 0.53 ms for its logistic regression; the end-to-end numbers are in
bench/serving_latency.py.

Correctness first: ``verified_fast_preparation`` returns the compiled form only if it gives
bit-identical answers to ``predict_output`` on the pipeline for the probe rows (numbers across
the training range, missing values, known, unseen and missing categories; together and one by
one). Any other pipeline shape, or any difference, and the model is scored through its pipeline.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING, Any

from app.ml.served_model import same_answers

if TYPE_CHECKING:
    from app.ml.served_model import ScoredRow, ServedModel

log = logging.getLogger(__name__)


def verified_fast_preparation(model: ServedModel, rows: list[ScoredRow]) -> FastPreparation | None:
    """The pipeline's preparation step compiled to plain numpy, if the pipeline has a shape we
    know and it gives bit-identical answers to the pipeline itself on the probe rows (together
    and one by one); otherwise None, and the model is scored through its pipeline."""
    try:
        fast = FastPreparation.compile(model)
    except Unsupported as why:
        log.info("model version %s is scored through its pipeline: %s", model.version, why)
        return None
    trial = dataclasses.replace(model, fast=fast)
    try:
        for group in ([*rows], *([r] for r in rows)):
            if not same_answers(trial.predict_arrays(group), model.predict_arrays(group, generic=True)):
                log.warning("model version %s: the compiled preparation differs from the pipeline; "
                            "scoring through the pipeline", model.version)
                return None
    except Exception:
        log.warning("model version %s: the compiled preparation failed on probe rows; scoring through the "
                    "pipeline", model.version, exc_info=True)
        return None
    return fast


class Unsupported(Exception):
    """A fitted step the compiled preparation does not reproduce."""


class FastPreparation:
    """A fitted ``ColumnTransformer`` of the shapes ``build_model`` makes, as plain numpy.

    Why: for one row, scikit-learn spends ~3 ms around 0.05 ms of arithmetic (DataFrame
    indexing, validation, feature-name checks, joblib dispatch), once per request. This does
    the same arithmetic from the fitted attributes: numeric columns through identity /
    ``SimpleImputer`` / ``StandardScaler``; categorical columns through ``CategoryAsText`` and an
    ``OrdinalEncoder`` or ``OneHotEncoder`` (no infrequent categories, nothing dropped); stacked
    dense or sparse as the transformer decided at fit. Anything else raises ``Unsupported`` and
    the pipeline is used; what is compiled is checked against the pipeline before it serves.
    """

    def __init__(self, blocks: list[tuple[str, list[str], list[Any]]], sparse_output: bool, estimator: Any) -> None:
        self.blocks = blocks
        self.sparse_output = sparse_output
        self.estimator = estimator  # the pipeline's own, or a compiled HistGradientBoosting

    @classmethod
    def compile(cls, model: ServedModel) -> FastPreparation:
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

        from app.ml.estimators import CategoryAsText

        pipeline = model.model
        if not isinstance(pipeline, Pipeline) or len(pipeline) != 2 or not isinstance(pipeline[0], ColumnTransformer):
            raise Unsupported("not a preparation step followed by an estimator")
        ct = pipeline[0]
        blocks: list[tuple[str, list[str], list[Any]]] = []
        for name, transformer, columns in ct.transformers_:
            if isinstance(transformer, str):
                if transformer == "drop":
                    continue
                raise Unsupported(f"transformer {name} is {transformer!r}")
            columns = list(columns) if not isinstance(columns, str) else [columns]
            if not columns:
                continue
            if not all(isinstance(c, str) and c in model.features for c in columns):
                raise Unsupported(f"transformer {name} selects columns other than the model's features by name")
            steps = [s for _, s in transformer.steps] if isinstance(transformer, Pipeline) else [transformer]
            if isinstance(steps[0], CategoryAsText):
                if len(steps) != 2:
                    raise Unsupported(f"categorical block {name} is not text + one encoder")
                encoder = steps[1]
                if getattr(encoder, "_infrequent_enabled", False):
                    # max_categories / min_frequency set: fine as long as no category was grouped
                    mappings = getattr(encoder, "_default_to_infrequent_mappings", None)
                    if mappings is None or any(m is not None for m in mappings):
                        raise Unsupported(f"encoder of {name} groups infrequent categories")
                if np.dtype(encoder.dtype) != np.float64:
                    raise Unsupported(f"encoder of {name} does not output float64")
                lookups = [{c: i for i, c in enumerate(cats)} for cats in encoder.categories_]
                if not all(len(lk) == len(cats) and all(isinstance(c, str) for c in cats)
                           for lk, cats in zip(lookups, encoder.categories_)):
                    raise Unsupported(f"encoder of {name} has categories that are not distinct text")
                if isinstance(encoder, OrdinalEncoder) and encoder.handle_unknown == "use_encoded_value":
                    blocks.append(("ordinal", columns, [lookups, float(encoder.unknown_value)]))
                elif (isinstance(encoder, OneHotEncoder) and encoder.handle_unknown == "ignore"
                      and encoder.drop_idx_ is None):
                    offsets = np.cumsum([0] + [len(c) for c in encoder.categories_])
                    blocks.append(("onehot", columns, [lookups, offsets, bool(encoder.sparse_output)]))
                else:
                    raise Unsupported(f"encoder of {name} is {type(encoder).__name__}({encoder.handle_unknown})")
                continue
            operations: list[Any] = []
            for step in steps:
                if isinstance(step, FunctionTransformer) and step.func is None:
                    continue
                if isinstance(step, SimpleImputer):
                    stats = np.asarray(step.statistics_, dtype="float64")
                    if (step.add_indicator or not (isinstance(step.missing_values, float)
                                                   and math.isnan(step.missing_values)) or np.isnan(stats).any()):
                        raise Unsupported(f"imputer of {name} has an indicator, another missing marker or an "
                                           "empty column")
                    operations.append(("impute", stats))
                elif isinstance(step, StandardScaler):
                    operations.append(("scale", step.mean_ if step.with_mean else None,
                                       step.scale_ if step.with_std else None))
                else:
                    raise Unsupported(f"step {type(step).__name__} of {name}")
            if any(model.features[c] != "numeric" for c in columns):
                raise Unsupported(f"numeric block {name} takes a categorical feature")
            blocks.append(("numeric", columns, operations))
        if not blocks:
            raise Unsupported("no columns are used")
        estimator = pipeline[-1]
        try:
            estimator = FastHistGradientBoosting.compile(estimator)
        except Unsupported as why:
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


class FastHistGradientBoosting:
    """A fitted HistGradientBoosting model's prediction without its per-call overhead.

    Why: for one row, ``predict_proba`` spends ~1.2 ms in the model's own internal
    ColumnTransformer (re-coding the categorical columns it was given) and in rebuilding
    constant lookup tables, around ~0.8 ms of tree walking. This keeps the tree walk — each
    fitted ``TreePredictor.predict``, summed in the same order onto the same baseline, then the
    model's own loss turns raw values into probabilities — and does the re-coding from the fitted
    encoder's categories. It reads private attributes of scikit-learn: any that is missing or
    shaped differently raises ``Unsupported``, and the result is checked bit for bit against
    the pipeline before it serves (see ``verified_fast_preparation``).
    """

    @classmethod
    def compile(cls, estimator: Any) -> FastHistGradientBoosting:
        import numpy as np
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

        if not isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
            raise Unsupported(f"{type(estimator).__name__} is not a HistGradientBoosting model")
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
                    raise Unsupported("its internal preprocessor is not a ColumnTransformer")
                for name, transformer, mask in pre.transformers_:
                    if isinstance(transformer, str):
                        if transformer == "drop" and not np.any(mask):
                            continue
                        raise Unsupported(f"its internal preprocessor's {name} is {transformer!r}")
                    columns = np.flatnonzero(np.asarray(mask)) if np.asarray(mask).dtype == bool else np.asarray(mask)
                    if isinstance(transformer, OrdinalEncoder):
                        if (transformer.handle_unknown != "use_encoded_value" or not np.isnan(transformer.unknown_value)
                                or not np.isnan(transformer.encoded_missing_value)
                                or getattr(transformer, "_infrequent_enabled", False)):
                            raise Unsupported("its internal encoder is not the one HistGradientBoosting makes")
                        lookups = []
                        for cats in transformer.categories_:
                            cats = np.asarray(cats, dtype="float64")
                            lookups.append({float(c): i for i, c in enumerate(cats) if not np.isnan(c)})
                        self.recode.append((columns, lookups))
                    elif isinstance(transformer, FunctionTransformer):
                        self.recode.append((columns, None))
                    else:
                        raise Unsupported(f"its internal preprocessor has a {type(transformer).__name__}")
        except AttributeError as exc:
            raise Unsupported(f"this scikit-learn's HistGradientBoosting differs ({exc})") from None
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
