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


# --- the cached workspaces ---------------------------------------------------------------------

TRIALS_PER_JOB = 19
CODE_FILES = ("storage/models.py", "app/services/training.py", "app/services/jobs.py", "bench/runs_scale.py",
              *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "storage/migrations/versions").glob("0*.py")))


def code_version() -> str:
    digest = hashlib.sha256()
    for name in CODE_FILES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:12]


def built_workspace(n_runs: int) -> Path:
    """The demo plus ``n_runs`` runs recorded through the services, built once per code version."""
    from app.services.demo import run_demo
    from app.services import people
    from app.services.workbench import Workbench
    from storage.workspace import Workspace

    home = CACHE / f"runs-{n_runs}-{code_version()}" / "home"
    if (home.parent / "built").exists():
        return home
    shutil.rmtree(home.parent, ignore_errors=True)
    home.mkdir(parents=True)
    os.environ["MLWB_HOME"] = str(home)
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    from app.jobs import JobRunner
    from app.services.jobs import WorkbenchLedger

    print(f"  building {n_runs:,} runs in {home} (once per code version; progress below) ...", flush=True)
    wb = Workbench.open(Workspace(home))
    people.init_me(wb, name="bench.engineer")
    run_demo(wb, JobRunner(WorkbenchLedger(wb)), rows=6_000, batch_rows=1_500)
    existing = len(__import__("app.services.training", fromlist=["list_runs"]).list_runs(wb, SLUG,
                                                                                    include_trials=True))
    jobs = max(1, (n_runs - existing) // (1 + TRIALS_PER_JOB))
    record_runs(wb, SLUG, jobs, trials=TRIALS_PER_JOB, progress=True)
    wb.close()
    (home.parent / "built").touch()
    return home


# --- measuring ---------------------------------------------------------------------------------


def cli_wall(home: Path) -> list[float]:
    where, sort, limit = QUERY
    env = {**os.environ, "MLWB_HOME": str(home), "PYTHONPATH": str(ROOT),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    command = [sys.executable, "-m", "app.cli", "runs", SLUG, "--filter", where, "--sort", sort,
               "--limit", str(limit), "--trials", "--json"]
    samples = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"mlwb runs failed: {done.stderr}")
    return samples


def service_time(home: Path) -> tuple[list[float], list[float]]:
    """The query alone (warm process) and a screen's filter change: count + the first window."""
    from app.services.run_query import query_runs
    from app.services.workbench import Workbench
    from storage.workspace import Workspace

    wb = Workbench.open(Workspace(home))
    where, sort, limit = QUERY
    query, window = [], []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        query_runs(wb, SLUG, where, sort, limit=limit, include_trials=True)
        query.append(time.perf_counter() - started)
        started = time.perf_counter()
        query_runs(wb, SLUG, where, sort, limit=40, include_trials=True, with_total=True)
        window.append(time.perf_counter() - started)
    wb.close()
    return query, window


_MLFLOW_BUILD = r"""
import random, sys, time
import mlflow
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param, RunTag
uri, n = sys.argv[1], int(sys.argv[2])
client = MlflowClient(tracking_uri=uri)
exp = client.create_experiment("bench")
rng = random.Random(0)
kinds = ["popularity_baseline", "logistic_regression", "decision_tree", "hist_gradient_boosting"]
started = time.perf_counter()
for i in range(n):
    run = client.create_run(exp)
    now = int(time.time() * 1000)
    auc = rng.uniform(0.55, 0.95)
    metrics = [Metric(k, v, now, 0) for k, v in (("val_roc_auc", auc), ("val_pr_auc", auc / 2),
               ("val_accuracy", rng.uniform(0.7, 0.9)), ("train_roc_auc", auc + 0.02))]
    params = [Param("model", kinds[i % 4]), Param("max_depth", str(rng.randint(2, 12)))]
    client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[RunTag("author", "bench")])
    client.set_terminated(run.info.run_id)
    if (i + 1) % 2000 == 0:
        rate = (i + 1) / (time.perf_counter() - started)
        print(f"    mlflow: {i + 1:,} of {n:,} runs ({rate:.0f} runs/s, {(n - i - 1) / rate / 60:.1f} min left)",
              flush=True)
"""

_MLFLOW_SEARCH = r"""
import json, sys, time
import mlflow
uri, samples = sys.argv[1], int(sys.argv[2])
mlflow.set_tracking_uri(uri)
times = []
for _ in range(samples):
    started = time.perf_counter()
    runs = mlflow.search_runs(experiment_names=["bench"], filter_string="metrics.val_roc_auc > 0.8",
                              order_by=["metrics.val_roc_auc DESC"], max_results=50)
    times.append(time.perf_counter() - started)
print(json.dumps({"times": times, "rows": len(runs)}))
"""


def ensure_mlflow() -> Path:
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow, sys; sys.exit(int(mlflow.__version__.split('.')[0]) != 3)"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    print(f"  building {VENV} (pip install 'mlflow>=3,<4'), once ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "mlflow>=3,<4"],
                   check=True)
    return python


def mlflow_times(python: Path, n_runs: int) -> tuple[list[float], str]:
    store = CACHE / f"mlflow-{n_runs}"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONWARNINGS": "ignore", "DO_NOT_TRACK": "1"}
    if not (store / "built").exists():
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)
        print(f"  logging {n_runs:,} MLflow runs into {store} (once) ...", flush=True)
        subprocess.run([str(python), "-c", _MLFLOW_BUILD, uri, str(n_runs)], env=env, check=True, cwd=store)
        (store / "built").touch()
    version = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
    done = subprocess.run([str(python), "-c", _MLFLOW_SEARCH, uri, str(SAMPLES)], env=env, capture_output=True,
                          text=True, check=True, cwd=store)
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])["times"], version


def main(argv: list[str] | None = None) -> None:

    from bench.common import summary

    parser = argparse.ArgumentParser(prog="python -m bench.runs_scale")
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 runs instead of 2,000 and 100,000")
    parser.add_argument("--no-mlflow", action="store_true", help="skip the MLflow baseline")
    args = parser.parse_args(argv)
    sizes = (2_000, 20_000) if args.quick else (2_000, 100_000)
    where, sort, limit = QUERY
    print(f"runs_scale: `mlwb runs {SLUG} --filter '{where}' --sort {sort} --limit {limit} --trials --json` "
          f"against MLflow search_runs (same filter, order, max_results)")
    python = None if args.no_mlflow else ensure_mlflow()
    for n in sizes:
        home = built_workspace(n)
        cli = cli_wall(home)
        query, window = service_time(home)
        print(f"  {n:>7,} runs  mlwb runs, whole command (wall)      {summary(cli)}")
        print(f"  {n:>7,} runs  run_query alone (warm)               {summary(query)}")
        print(f"  {n:>7,} runs  screen filter: count + 40-run window {summary(window)}")
        if python is not None:
            times, version = mlflow_times(python, n)
            print(f"  {n:>7,} runs  MLflow {version} search_runs (warm)     {summary(times)}")
            print(f"  {n:>7,} runs  MLflow/mlwb ratio (medians, warm query) "
                  f"{statistics.median(times) / statistics.median(query):6.1f}×;  whole mlwb command "
                  f"{'meets' if statistics.median(cli) <= 0.3 else 'MISSES'} the ≤ 0.3 s target")


if __name__ == "__main__":
    main()
