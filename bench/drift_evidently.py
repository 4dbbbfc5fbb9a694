"""Our drift engine against Evidently 0.7.23's ``DataDriftPreset``, on the same data in the same run.

Evidently is not a dependency of the workbench and must not become one: it lives in its own
virtual environment, ``bench/.evidently-venv`` (git-ignored), built on first use with
``pip install evidently==0.7.23 'pandas<3' pyarrow`` (0.7.23 does not import with pandas 3).
The data (``bench.drift_speed``'s generator: a 200k-row reference, a 500k-row batch, 18 of 60
features truly shifted) is written once to Parquet; Evidently runs in a subprocess with that
venv's Python, which times only ``Report([DataDriftPreset()]).run(...)`` (building its
``Dataset``s included, reading the Parquet files not) and prints JSON: seconds, and the columns
its per-column drift tests failed.

Figures: both times, the ratio (target ≥ 50x), and both verdicts (shifted features flagged,
false alarms). Our time is ``compare`` on a profile loaded from bytes (median of 5, measured
before Evidently runs); building the profile
(once per model, at training time) is reported separately, and so is the ratio if it were
paid on every batch.

Run alone with ``python -m bench.drift_evidently`` (``--quick`` for 50k / 100k rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".evidently-venv"
EVIDENTLY_VERSION = "0.7.23"
REQUIREMENTS = [f"evidently=={EVIDENTLY_VERSION}", "pandas<3", "pyarrow"]
FULL = (200_000, 500_000)
QUICK = (50_000, 100_000)

# Runs inside the Evidently venv: argv = reference.parquet current.parquet features.json
_RUNNER = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
features = json.loads(open(sys.argv[3]).read())
definition = DataDefinition(
    numerical_columns=[f for f, k in features.items() if k == "numeric"],
    categorical_columns=[f for f, k in features.items() if k == "categorical"],
)
started = time.perf_counter()
snapshot = Report([DataDriftPreset()], include_tests=True).run(
    Dataset.from_pandas(current, data_definition=definition),
    Dataset.from_pandas(reference, data_definition=definition),
)
seconds = time.perf_counter() - started
result = snapshot.dict()
flagged, methods = [], {}
for test in result["tests"]:
    params = test.get("metric_config", {}).get("params", {})
    column = params.get("column")
    if column is None:
        continue
    methods[column] = params.get("method")
    if test["status"] == "FAIL":
        flagged.append(column)
import evidently
print(json.dumps({"seconds": seconds, "flagged": sorted(flagged), "methods": methods,
                  "version": evidently.__version__, "pandas": pd.__version__}))
"""


class EvidentlyUnavailable(RuntimeError):
    """The separate Evidently environment could not be built or used; the message says why."""


def _run(command: list[str], what: str, timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EvidentlyUnavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        tail = "\n    ".join(line[:300] for line in (done.stderr or done.stdout).strip().splitlines()[-8:])
        raise EvidentlyUnavailable(f"{what} failed (exit {done.returncode}):\n    {tail}")
    return done


def ensure_evidently() -> Path:
    """The venv's Python, building the venv first if needed (about a minute, once)."""
    python = VENV / "bin" / "python"
    check = [str(python), "-c", f"import evidently, sys; sys.exit(evidently.__version__ != {EVIDENTLY_VERSION!r})"]
    if python.exists() and subprocess.run(check, capture_output=True, check=False).returncode == 0:
        return python
    print(f"building {VENV} ({' '.join(REQUIREMENTS)}), once ...", flush=True)
    if not python.exists():
        _run([sys.executable, "-m", "venv", str(VENV)],
             "creating the Evidently venv (on Debian/Ubuntu the python3-venv package provides ensurepip)", 300)
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS],
         f"installing {' '.join(REQUIREMENTS)} from PyPI (is PyPI reachable?)", 1800)
    _run(check, f"importing evidently {EVIDENTLY_VERSION} in {VENV}", 300)
    return python


def run_evidently(python: Path, folder: Path) -> dict:
    env = {**os.environ, "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore"}
    command = [str(python), "-c", _RUNNER, str(folder / "reference.parquet"), str(folder / "current.parquet"),
               str(folder / "features.json")]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise EvidentlyUnavailable("Evidently did not finish within an hour") from None
    if done.returncode != 0:
        tail = "\n    ".join(line[:300] for line in done.stderr.strip().splitlines()[-8:])
        raise EvidentlyUnavailable(f"Evidently's run failed (exit {done.returncode}):\n    {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> int:
    """Print the comparison; returns 1 (after saying why) if Evidently cannot be run."""
    from app.ml.drift import compare
    from app.ml.drift_reference import ReferenceProfile, build_reference
    from bench.drift_speed import make_data, score

    n_reference, n_current = QUICK if quick else FULL
    print(f"== drift vs Evidently {EVIDENTLY_VERSION} DataDriftPreset: 60 features, {n_current:,} batch rows "
          f"vs a {n_reference:,}-row reference (target ≥ 50x) ==")
    try:
        python = ensure_evidently()
    except EvidentlyUnavailable as exc:
        print(f"cannot run the Evidently comparison: {exc}", file=sys.stderr)
        return 1
    data = make_data(n_reference, n_current)
    # Ours first: Evidently's run churns through gigabytes of memory, and the kernel's
    # reclaiming afterwards slowed the next process measured (1.9 s instead of 0.6 s once).
    started = time.perf_counter()
    blob = build_reference(data.reference, data.features).to_bytes()
    built = time.perf_counter() - started
    profile = ReferenceProfile.from_bytes(blob)
    ours: list[float] = []
    results = []
    for _ in range(5):
        started = time.perf_counter()
        results = compare(profile, data.current, workers=2)
        ours.append(time.perf_counter() - started)
    median = statistics.median(ours)

    with tempfile.TemporaryDirectory(prefix="mlwb-bench-evidently-") as tmp:
        folder = Path(tmp)
        data.reference.to_parquet(folder / "reference.parquet")
        data.current.to_parquet(folder / "current.parquet")
        (folder / "features.json").write_text(json.dumps(data.features))
        try:
            evidently = run_evidently(python, folder)
        except EvidentlyUnavailable as exc:
            print(f"cannot run the Evidently comparison: {exc}", file=sys.stderr)
            return 1

    child_peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6  # kB on Linux
    methods = sorted(set(evidently["methods"].values()))
    print(f"Evidently             {evidently['seconds']:7.2f} s  (evidently {evidently['version']}, "
          f"pandas {evidently['pandas']}; methods: {', '.join(methods)}; peak RSS {child_peak_gb:.1f} GB)")
    print(f"ours, 2 threads       {median:7.3f} s  median of 5 (runs: {', '.join(f'{t:.3f}' for t in ours)})")
    print(f"ratio                 {evidently['seconds'] / median:7.1f}x  (target ≥ 50x); "
          f"{evidently['seconds'] / (median + built):.1f}x if the {built:.2f} s profile build were paid per batch")
    print(f"verdict Evidently     {score(set(evidently['flagged']), data)}")
    print(f"verdict ours          {score({r.feature for r in results if r.drifted}, data)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50k-row reference, 100k-row batch")
    sys.exit(main(quick=parser.parse_args().quick))
