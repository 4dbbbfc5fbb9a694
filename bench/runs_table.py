"""Does the runs screen's run table stay fast with 10,000 runs? (target: filter or sort ≤ 100 ms)

Both widgets get the same 10,000 synthetic ``RunView`` rows (no database) in an app of their
own, and each operation is timed from the call until the screen has repainted (Pilot's
``pause``), so the figure is what a person waits for:

- ``RunsTable`` (screens/widgets/runs_table.py): orderings computed in plain Python over a
  list kept in memory; only the lines on screen are drawn (Line API);
- baseline: the naive ``DataTable`` way, ``clear()`` then ``add_row`` × the matching runs.

The repaint-only floor (Pilot's pause around a bare ``refresh``) is printed too: what is left
above it is the operation itself. Filter = one keystroke's worth of change (alternating
between two needles: "hist", which matches a sixth of the runs, and "an", which matches
almost all); sort = the next column, the first time (keys computed) and again (cached order).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from datetime import datetime, timedelta

from bench.common import summary

N_RUNS = 10_000
SAMPLES = 30
BASELINE_SAMPLES = 8  # each naive rebuild takes long; fewer samples keep the bench short
TARGET_S = 0.100
KINDS = ("popularity_baseline", "logistic_regression", "decision_tree", "hist_gradient_boosting",
         "random_forest", "majority_baseline")
AUTHORS = ("ana.engineer", "ben.validator", "chen.scientist", "dana.lead")
FILTERS = ("hist", "an")


def synthetic_runs(n: int = N_RUNS, seed: int = 0):  # type: ignore[no-untyped-def]
    """Runs shaped like real ones: a sixth are trials, a third have CV, a few are test-scored."""
    from app.ml.catalogue import BASELINE_KINDS
    from app.services.training import RunView

    rng = random.Random(seed)
    start = datetime(2026, 1, 1)
    runs = []
    for i in range(1, n + 1):
        kind = KINDS[i % len(KINDS)]
        auc = rng.uniform(0.55, 0.8)
        metrics = {"val_roc_auc": auc, "val_pr_auc": auc / 2, "train_roc_auc": auc + 0.02}
        cv = None
        if i % 3 == 0:
            folds = [auc + rng.gauss(0, 0.01) for _ in range(5)]
            metrics |= {"cv_roc_auc_mean": statistics.mean(folds), "cv_roc_auc_std": statistics.stdev(folds)}
            cv = {"roc_auc": {"mean": statistics.mean(folds), "std": statistics.stdev(folds), "folds": folds}}
        parent = i - 1 if i % 6 == 0 else None
        runs.append(RunView(
            id=i, experiment="default", model_kind=kind, is_baseline=kind in BASELINE_KINDS, seed=0,
            params={"max_depth": rng.randint(2, 10)}, metrics=metrics, environment={}, dataset_version_id=1,
            split_id=1, artifact_sha256=None, duration_s=rng.uniform(0.1, 30), created_at=start + timedelta(minutes=i),
            created_by=AUTHORS[i % len(AUTHORS)], parent_run_id=parent, cv_metrics=cv,
            tuning={"trials": 20} if i % 11 == 0 else {}, test_metrics={"roc_auc": auc} if i % 97 == 0 else {},
        ))
    return runs


def _naive_fill(table, runs, needle: str, column: str, descending: bool) -> None:  # type: ignore[no-untyped-def]
    """The baseline's filter/sort: compute the rows, then clear the DataTable and add them all."""
    from screens.widgets.runs_table import COLUMNS, COLUMN_KEYS

    spec = COLUMNS[COLUMN_KEYS.index(column)]
    rows = [r for r in runs if r.parent_run_id is None and needle in f"{r.id} {r.model_kind} {r.created_by}".lower()]
    rows.sort(key=spec.sort_key, reverse=descending)
    table.clear()
    for r in rows:
        table.add_row(*(c.cell(r)[0] for c in COLUMNS), key=str(r.id))


CALL_ONLY: dict[str, list[float]] = {}


async def _time(pilot, operation, label: str = "") -> float:  # type: ignore[no-untyped-def]
    """Call to repainted screen; with a label, the call alone is also kept (what Python costs)."""
    started = time.perf_counter()
    operation()
    called = time.perf_counter()
    await pilot.pause()
    if label:
        CALL_ONLY.setdefault(label, []).append(called - started)
    return time.perf_counter() - started


async def _measure_runs_table(runs) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    from textual.app import App, ComposeResult

    from screens.widgets.runs_table import COLUMN_KEYS, RunsTable

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield RunsTable(id="runs")

    app = Host()
    results: dict[str, list[float]] = {"filter": [], "sort": [], "load": [], "repaint only": []}
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(RunsTable)
        results["load"].append(await _time(pilot, lambda: table.set_runs(runs)))
        for n in range(SAMPLES):
            results["filter"].append(await _time(pilot, lambda n=n: table.set_filter(FILTERS[n % 2]), "filter"))
        table.set_filter("")
        for n in range(SAMPLES):
            column = COLUMN_KEYS[(n + 1) % len(COLUMN_KEYS)]
            # The first sort by a column computes its keys; later ones reuse the cached order.
            key = "sort" if n < len(COLUMN_KEYS) else "sort (cached)"
            results.setdefault(key, []).append(await _time(pilot, lambda c=column: table.sort_by(c), key))
        for _ in range(SAMPLES):
            results["repaint only"].append(await _time(pilot, table.refresh))
        assert len(table.order) == sum(1 for r in runs if r.parent_run_id is None)
    return results


async def _measure_data_table(runs) -> dict[str, list[float]]:  # type: ignore[no-untyped-def]
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    from screens.widgets.runs_table import COLUMN_KEYS, COLUMNS

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            table: DataTable[str] = DataTable(id="runs", cursor_type="row")
            for c in COLUMNS:
                table.add_column(c.label, width=c.width)
            yield table

    app = Host()
    results: dict[str, list[float]] = {"filter": [], "sort": [], "load": []}
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(DataTable)
        results["load"].append(await _time(pilot, lambda: _naive_fill(table, runs, "", "id", False)))
        for n in range(BASELINE_SAMPLES):
            results["filter"].append(await _time(pilot, lambda n=n: _naive_fill(table, runs, FILTERS[n % 2], "id",
                                                                                   False)))
        for n in range(BASELINE_SAMPLES):
            column = COLUMN_KEYS[(n + 1) % len(COLUMN_KEYS)]
            results["sort"].append(await _time(pilot, lambda c=column: _naive_fill(table, runs, "", c, False)))
    return results


def main() -> None:
    runs = synthetic_runs()
    print(f"runs_table: {N_RUNS:,} runs ({sum(r.parent_run_id is None for r in runs):,} shown without trials); "
          f"time from the call to the repainted screen")
    ours = asyncio.run(_measure_runs_table(runs))
    naive = asyncio.run(_measure_data_table(runs))
    print(f"  floor  RunsTable repaint only (Pilot pause + one frame) {summary(ours['repaint only'])}")
    print(f"  sort   RunsTable, cached column order {summary(ours['sort (cached)'])}")
    for label, samples in CALL_ONLY.items():
        print(f"  call   RunsTable {label:<13} without the repaint {summary(samples)}")
    for op in ("load", "filter", "sort"):
        print(f"  {op:<6} RunsTable          {summary(ours[op])}")
        print(f"  {op:<6} DataTable baseline {summary(naive[op])}")
        if ours[op] and naive[op]:
            ratio = statistics.median(naive[op]) / statistics.median(ours[op])
            verdict = "meets" if statistics.median(ours[op]) <= TARGET_S else "MISSES"
            print(f"  {op:<6} baseline/RunsTable median ratio {ratio:5.1f}×  ({verdict} the ≤ 100 ms target)"
                  if op != "load" else f"  {op:<6} baseline/RunsTable median ratio {ratio:5.1f}×")


if __name__ == "__main__":
    main()
