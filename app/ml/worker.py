"""The entry point of a job's worker process: run one task, report progress, obey cancel.

It runs in a fresh ``spawn`` interpreter that imports nothing but ``app.ml`` and its libraries;
it never touches the database (the parent persists results, so there is one writer).
"""

from __future__ import annotations

import importlib
import os
import traceback
from typing import Any


def _silence_stdio() -> None:
    """Point fds 1 and 2 at /dev/null: a library's print must not corrupt the parent's screen."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def child_main(task: str, payload: dict[str, Any], queue: Any, cancel: Any, quiet: bool) -> None:
    if quiet:
        _silence_stdio()
    # One BLAS/OpenMP thread per worker: on 2 cores, more threads fight the UI and each other
    # (a HistGradientBoosting fit swung from 2.4 s to 192 s here without this). The variables
    # must be set before numpy/sklearn load: threadpool_limits only reaches libraries that are
    # already loaded, and the tasks import theirs lazily.
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    from threadpoolctl import threadpool_limits

    from app.ml.errors import DataFileError, TrainingCancelled

    module_name, func_name = task.split(":")
    func = getattr(importlib.import_module(module_name), func_name)

    def progress(fraction: float, message: str) -> None:
        queue.put(("progress", float(fraction), message))

    try:
        with threadpool_limits(1):
            result = func(payload, progress, cancel.is_set)
        queue.put(("result", result))
    except TrainingCancelled:
        queue.put(("cancelled", "cancelled"))
    except (DataFileError, ValueError) as exc:
        queue.put(("error", str(exc), ""))
    except BaseException as exc:  # report, never hang the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
