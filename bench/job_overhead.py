"""What does running training as a background job cost over calling scikit-learn directly?

Baseline: `train_model(spec)` called in this process (data already on disk, libraries already
imported). Job: the same spec through `JobRunner.execute` — a fresh spawn process that imports
pandas and scikit-learn, reads the data, fits, and sends the result back — with the job rows
written to the registry.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from bench.common import scratch_home

REPEATS = 5


def main() -> None:
    from app.jobs import JobRunner
    from app.ml.training import train_model
    from app.ml.training_spec import TrainingSpec
    from app.services import jobs as job_records
    from app.services.jobs import WorkbenchLedger
    from app.services.training import plan_training
    from app.services.workbench import Workbench

    scratch_home("jobs")
    subprocess.run([sys.executable, "-m", "app.cli", "demo", "--rows", "20000"], check=True, capture_output=True,
                   env=os.environ.copy())
    wb = Workbench.open()
    runner = JobRunner(WorkbenchLedger(wb))
    results: dict[str, dict[str, list[float]]] = {}
    for kind in ("logistic_regression", "hist_gradient_boosting"):
        plan = plan_training(wb, "ctr-demo", kind, queue=False)
        spec = TrainingSpec(**plan.payload)
        train_model(spec)  # warm the imports and the file cache for the baseline
        direct, job = [], []
        for _ in range(REPEATS):
            started = time.perf_counter()
            train_model(spec)
            direct.append(time.perf_counter() - started)
            job_id = job_records.create_job(wb, "bench", "ctr-demo", {"kind": kind})
            started = time.perf_counter()
            runner.execute(job_id, "app.ml.tasks:train_task", plan.payload)
            job.append(time.perf_counter() - started)
            job_records.mark_cancelled(wb, job_id, "benchmark: result not recorded")
        results[kind] = {"direct": direct, "job": job}
    wb.close()
    print("== job start-up overhead (20,000 demo rows, median of 5) ==")
    for kind, r in results.items():
        d, j = statistics.median(r["direct"]), statistics.median(r["job"])
        print(f"{kind:24s} direct sklearn {d:6.2f} s   as a job {j:6.2f} s   overhead {j - d:+5.2f} s ({j / d:4.1f}x)")


if __name__ == "__main__":
    main()
