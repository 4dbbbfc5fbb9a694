"""The entry point of a job's worker process: run one task, report progress, obey cancel.

It runs in a process forked from the job forkserver (or a fresh ``spawn`` interpreter) that
imports nothing but ``app.ml`` and its libraries;
it never touches the database (the parent persists results, so there is one writer).
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import threading
import traceback
from typing import Any



def _silence_stdio() -> None:
    """Point fds 1 and 2 at /dev/null: a library's print must not corrupt the parent's screen."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: The pid of the process that starts the job forkserver, set in its environment before the
#: server is spawned: the server's watchdog (``app.ml.worker_preload``) exits when its parent is
#: no longer that pid, even if the parent died before the watchdog started.
FORKSERVER_PARENT = "MLWB_FORKSERVER_PARENT"


def _exit_with_parent() -> None:
    """End this process as soon as the workbench process that asked for it dies.

    A parent that dies normally terminates its daemon workers; one killed with ``kill -9`` cannot,
    so the worker waits on its parent's sentinel (a pipe that closes when that process ends) on a
    thread of its own. This works whoever forked the worker (the forkserver, or ``spawn``).
    ``PR_SET_PDEATHSIG`` would not do: it fires when the *thread* that started the worker ends,
    which in the TUI is a short-lived thread worker.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="mlwb-parent-watch", daemon=True).start()


def child_main(task: str, payload: dict[str, Any], queue: Any, cancel: Any, quiet: bool) -> None:
    _exit_with_parent()
    gc.enable()  # paused in a forkserver's preload (app.ml.forkserver_guard): on, even if that preload failed
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
