"""Runs at scale: `mlwb runs --filter … --sort … --limit 50` and the runs screen's filter at 2,000
and 100,000 runs, against MLflow 3.x ``search_runs`` over the same number of runs, in one run.

Building the runs goes through the services, as a person's training does: for each run a job is
queued (``jobs.create_job``: a row and its ``job.queued`` audit event) and the finished job is
recorded (``training.record_run``: the model and validation-prediction artifacts, the run, its
``run.logged`` event and the job's ``job.succeeded`` event, in one unit of work). What is skipped
is only the fit itself: four real fits (one per model kind, on the demo's data) are made once
and their results replayed with each run's own seed, metrics and parameters varied. A recorded
job costs ~0.1–0.15 s here (two units of work, three audit events, two fsynced commits), so
100,000 one-run jobs would take three to four hours: each job is recorded as a tuned training
is, one run and 19 tuning trials (child runs) in its unit of work, and 100,000 runs are 5,000
jobs (about 15 minutes). The queries then include the trials (``--trials``; ``t`` on the screen). (The replayed metrics are jittered around the real ones: the
registry holds what the query has to search, not 100,000 trained models.)

The built workspace is cached under ``bench/.cache/runs-N-<code version>`` (the version is a
hash of the files that decide what is written: the models, the migrations, the training and
job services), so the 100k build (tens of minutes on a busy 2-core machine) happens once.

MLflow runs in its own virtualenv, ``bench/.mlflow-venv`` (git-ignored), built on first use with
``pip install 'mlflow>=3,<4'`` like ``bench.drift_evidently`` builds Evidently's; its runs are
logged with ``MlflowClient.log_batch`` into a SQLite tracking store (MLflow's database backend,
the one it recommends beyond a few thousand runs), cached the same way.

``python -m bench.runs_scale`` measures 2,000 and 100,000 runs; ``--quick`` 2,000 and 20,000.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
VENV = Path(__file__).resolve().parent / ".mlflow-venv"
KINDS = ("popularity_baseline", "logistic_regression", "decision_tree", "hist_gradient_boosting")
QUERY = ("val_roc_auc > 0.8", "-val_roc_auc", 50)
SAMPLES = 7
SLUG = "ctr-demo"


# --- building runs through the services ----------------------------------------------------------


def real_results(wb: Any, slug: str) -> tuple[Any, list[Any]]:
    """One real fit per model kind on the project's latest dataset: the plan and the results."""
    from app.ml.tasks import train_task
    from app.services.training import plan_training

    plans_results = []
    for kind in KINDS:
        plan = plan_training(wb, slug, kind, queue=False)
        plans_results.append((plan, train_task(plan.payload, lambda f, m: None, lambda: False)))
    return plans_results[0][0], plans_results


def record_runs(wb: Any, slug: str, jobs: int, *, trials: int = 0, seed: int = 0, progress: bool = False,
                fits: list[Any] | None = None) -> list[int]:
    """Record ``jobs`` finished training jobs through the services: each is one run and, with
    ``trials``, that many tuning trials (child runs) recorded with it, as a tuned training
    records them. Returns the ids of the (parent) runs.

    Job i replays fit ``i % 4`` with its own seed, a ``max_depth`` parameter and metrics jittered
    around the fit's own (``val_roc_auc`` spread over 0.55–0.95, so ``val_roc_auc > 0.8`` keeps
    about three runs in eight).
    """
    from app.services import jobs as job_records
    from app.services.training import record_run

    fits = fits or real_results(wb, slug)[1]
    rng = random.Random(seed)
    ids: list[int] = []
    started = time.perf_counter()
    for i in range(jobs):
        plan, result = fits[i % len(fits)]
        auc = rng.uniform(0.55, 0.95)
        metrics = {k: (round(v * rng.uniform(0.9, 1.1), 6) if isinstance(v, float) else v)
                   for k, v in result.metrics.items()}
        metrics["val_roc_auc"] = auc
        params = {**result.params, "max_depth": rng.randint(2, 12), "bench_seed": seed * 1_000_000 + i}
        trial_rows = [{"params": {"max_depth": rng.randint(2, 12)}, "val_roc_auc": rng.uniform(0.55, 0.95),
                       "val_pr_auc": rng.uniform(0.1, 0.5), "duration_s": rng.uniform(0.1, 5.0)}
                      for _ in range(trials)]
        job_id = job_records.create_job(wb, "train", slug, {"kind": result.kind, "seed": i, "split": plan.split_id,
                                                            "dataset_version": plan.dataset_version_id})
        replay = dataclasses.replace(result, metrics=metrics, params=params, trials=trial_rows,
                                     best_params={"max_depth": params["max_depth"]} if trials else None,
                                     duration_s=round(rng.uniform(0.2, 30.0), 3))
        payload = {**plan.payload, "seed": i, "tune": {"method": "random", "trials": trials} if trials else None}
        ids.append(record_run(wb, slug, dataclasses.replace(plan, job_id=job_id, payload=payload), replay).id)
        if progress and (i + 1) % 100 == 0:
            rate = (i + 1) / (time.perf_counter() - started)
            print(f"    {(i + 1) * (1 + trials):,} of {jobs * (1 + trials):,} runs recorded "
                  f"({rate * (1 + trials):.0f} runs/s, {(jobs - i - 1) / rate / 60:.1f} min left)", flush=True)
    return ids
