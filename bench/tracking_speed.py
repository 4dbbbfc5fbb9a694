"""Logging a run through the `mlwb` tracking module, against MLflow on SQLite, measured in one run.

One run = start it, log 10 params and 20 metrics, end it: ours writes the run and its signed,
hash-chained audit event in one SQLite transaction (WAL, synchronous=FULL: one fsync); MLflow
(``mlflow`` in a separate, git-ignored venv ``bench/.mlflow-venv``, built on first use like
``bench/.evidently-venv``) logs the same with ``start_run`` / ``log_params`` / ``log_metrics`` to
a ``sqlite:///`` tracking store. Both loop over the same count, after a few warm-up runs; the
median and p95 per run are printed side by side.

    python -m bench tracking_speed [--runs 200] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".mlflow-venv"
REQUIREMENTS = ["mlflow>=3.17,<4"]
N_PARAMS, N_METRICS, WARM_UP = 10, 20, 5

MLFLOW_LOOP = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import mlflow
mlflow.set_tracking_uri(f"sqlite:///{sys.argv[1]}/mlflow.db")
mlflow.set_experiment("bench")
n, warm = int(sys.argv[2]), int(sys.argv[3])
samples = []
for i in range(n + warm):
    start = time.perf_counter()
    with mlflow.start_run():
        mlflow.log_params({f"p{j}": j for j in range(10)})
        mlflow.log_metrics({f"m{j}": j * 0.5 for j in range(20)})
    if i >= warm:
        samples.append(time.perf_counter() - start)
print(json.dumps({"version": mlflow.__version__, "samples": samples}))
"""


def _stats(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:7.2f} ms  p95 {p95 * 1000:7.2f} ms  n={len(ordered)}"


def ensure_mlflow() -> Path | None:
    """The MLflow venv's Python, built on first use (a few minutes, once); None if it cannot be."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", "import mlflow"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    print(f"building {VENV} ({' '.join(REQUIREMENTS)}), once ...", flush=True)
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        *REQUIREMENTS], check=True, capture_output=True, timeout=1800)
        subprocess.run(check, check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"MLflow venv unavailable ({exc}); measuring ours only")
        return None
    return python


def _project(home: Path) -> None:
    """A small framed project with a split, and my registered key, through the services."""
    from app.ml.demo_data import generate_interactions
    from app.services import datasets, deliverables, people, projects
    from app.services.demo import FEATURES, FRAMING, STATEMENT
    from app.services.workbench import Workbench
    from storage.workspace import Workspace

    wb = Workbench.open(Workspace(home))
    people.init_me(wb, name="bench.engineer")
    projects.create_project(wb, "bench", problem_type="binary_classification", maturity="growth")
    deliverables.save_problem_statement(wb, "bench", STATEMENT)
    deliverables.save_framing(wb, "bench", FRAMING, FEATURES)
    source = home.parent / "interactions.csv"
    generate_interactions(2_000, seed=3).to_csv(source, index=False)
    datasets.import_dataset(wb, "bench", source, target="clicked")
    datasets.create_split(wb, "bench", strategy="stratified", seed=0)
    wb.close()


def measure_ours(runs: int) -> list[float]:
    import app.tracking as mlwb

    samples = []
    for i in range(runs + WARM_UP):
        start = time.perf_counter()
        with mlwb.start_run("bench") as run:
            run.log_params({f"p{j}": j for j in range(N_PARAMS)})
            run.log_metrics({f"m{j}": j * 0.5 for j in range(N_METRICS)})
        if i >= WARM_UP:
            samples.append(time.perf_counter() - start)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args(argv)
    from bench.common import scratch_home

    home = scratch_home("tracking")
    _project(home)
    ours = measure_ours(args.runs)
    print(f"tracking: one run, {N_PARAMS} params + {N_METRICS} metrics, {args.runs} runs in a loop")
    print(f"  mlwb (SQLite WAL, synchronous=FULL, signed + audited): {_stats(ours)}")
    python = None if args.no_mlflow else ensure_mlflow()
    if python is not None:
        with tempfile.TemporaryDirectory(prefix="mlwb-bench-mlflow-") as folder:
            done = subprocess.run([str(python), "-c", MLFLOW_LOOP, folder, str(args.runs), str(WARM_UP)],
                                  capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            print(f"  MLflow failed: {done.stderr.strip().splitlines()[-1:]}")
        else:
            result = json.loads(done.stdout.strip().splitlines()[-1])
            theirs = result["samples"]
            print(f"  MLflow {result['version']} (sqlite:///):                  {_stats(theirs)}")
            print(f"  ratio (MLflow / mlwb, medians): {statistics.median(theirs) / statistics.median(ours):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
