"""What the job forkserver imports once, so that each worker forked from it starts in
milliseconds instead of importing NumPy, pandas and scikit-learn again (about 1.5 s a job).

Imported only in the forkserver process (``app.jobs``), never in the workbench's own process;
``app.ml.forkserver_guard`` first (the server ends with its parent, the thread limits are set
before the libraries load).
"""

from __future__ import annotations

import app.ml.forkserver_guard  # (first: see its docstring)

import numpy  # noqa: E402,F401
import pandas  # noqa: E402,F401
import scipy.stats  # noqa: E402,F401
import sklearn.ensemble  # noqa: E402,F401
import sklearn.linear_model  # noqa: E402,F401
import sklearn.metrics  # noqa: E402,F401
import sklearn.pipeline  # noqa: E402,F401
import sklearn.preprocessing  # noqa: E402,F401

import app.ml.analysis_task  # noqa: E402,F401
import app.ml.crossval  # noqa: E402,F401
import app.ml.drift  # noqa: E402,F401
import app.ml.evaluation  # noqa: E402,F401
import app.ml.model_files  # noqa: E402,F401  (skops: 0.4 s)
import app.ml.model_reference  # noqa: E402,F401
import app.ml.monitoring_task  # noqa: E402,F401
import app.ml.tasks  # noqa: E402,F401
import app.ml.training  # noqa: E402,F401

app.ml.forkserver_guard.preloaded()
