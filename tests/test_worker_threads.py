"""Worker processes run numerical libraries single-threaded (``app.ml.worker``).

On a 2-core machine a second OpenMP/BLAS thread per worker fights the UI and other workers;
a HistGradientBoosting fit was measured to swing from seconds to minutes without the limit.
The check runs a real task in a real ``spawn`` worker through ``JobRunner.execute`` and asks
threadpoolctl, inside that worker, how many threads each loaded library would use.

This module keeps its top-level imports free of numpy/scipy/sklearn on purpose: the worker
imports it to find the task, exactly like ``app.ml.tasks``, whose tasks import their heavy
libraries only when they run.
"""

from __future__ import annotations

from typing import Any


from app.jobs import JobRunner
from app.services import jobs as job_records
from app.services import projects
from app.services.workbench import Workbench


def thread_pools_task(payload: dict[str, Any], progress: Any, should_stop: Any) -> list[tuple[str, int]]:
    """A worker task that loads what a training task loads, then reports the thread pools."""
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime, as train_task does
    from threadpoolctl import threadpool_info

    progress(1.0, "inspected")
    return sorted({(str(i["internal_api"]), int(i["num_threads"])) for i in threadpool_info()})


def test_worker_limits_numerical_libraries_to_one_thread(wb: Workbench, runner: JobRunner) -> None:
    projects.create_project(wb, "threads", problem_type="binary_classification")
    job_id = job_records.create_job(wb, "probe", "threads", {})
    pools = runner.execute(job_id, f"{__name__}:thread_pools_task", {})
    assert any(api == "openmp" for api, _ in pools), pools
    assert {n for _, n in pools} == {1}, pools
