"""The runs screen at 2,000 and 100,000 runs: a filter or sort change to the repainted screen
(target ≤ 100 ms at 100k, bounded memory), against the old full-list path in the same run.

The workspaces are ``bench.runs_scale``'s (the demo plus runs recorded through the services,
19 tuning trials per run, cached under ``bench/.cache``); the runs screen is the real one, in
the real app, driven with Pilot, with the trials shown (``t``) so the table spans every run.
Each change is timed from setting the filter box (or the header's sort) until the screen shows
the new query's rows and has repainted (Pilot's ``pause``): what a person waits for. The
screen asks ``run_query.query_runs`` for the first 80-row window in a thread, shows it, then
counts the matches (``count_runs``) when the window was full; the time until that count is on
screen is printed too.

Filters alternate between a metric clause (``val_roc_auc > 0.8``: about three runs in eight),
a bare word (``hist``: a model name, as the box always took) and both (``… and model ~ tree``).
Sorts alternate between the validation metric (best first) and seconds. ``end`` jumps to the
last run: the window there is an offset walk of the index, timed the same way.

The old path is what the screen did before (session 19): ``list_runs(include_trials=True)``,
every run turned into a view, then filtered and sorted in Python. It is timed once per size
(at 100k it takes seconds and a gigabyte), and both paths' peak Python memory is measured with
``tracemalloc`` on a separate call (one window of the new path; the whole list of the old).

``python -m bench.runs_table`` measures 2,000 and 100,000 runs; ``--quick`` 2,000 and 20,000.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import summary

SLUG = "ctr-demo"
SAMPLES = 12
TARGET_S = 0.100
FILTERS = ("val_roc_auc > 0.8", "hist", "val_roc_auc > 0.8 and model ~ tree")
SORTS = ("val", "seconds")


async def _until(pilot: Any, done: Any, timeout: float = 60.0) -> None:
    """Wait (without Pilot's idle wait, which would add its own latency) until ``done()``, then
    let the screen repaint."""
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            raise RuntimeError("the runs screen did not show the new query in time")
        await asyncio.sleep(0.001)
    await pilot.pause()


async def _measure_screen() -> dict[str, list[float]]:
    from textual.widgets import Input

    from app.tui import WorkbenchApp
    from screens.runs import RunsScreen
    from screens.widgets.runs_table import RunsTable

    app = WorkbenchApp(offer_demo=False)
    app.animation_level = "none"
    results: dict[str, list[float]] = {"filter": [], "filter count": [], "sort": [], "sort count": [],
                                       "end": [], "open": []}
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(2):
            await pilot.pause()
            await app.workers.wait_for_complete()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("M")
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await _until(pilot, lambda: screen.loaded)
        results["open"].append(time.perf_counter() - started)
        table = screen.query_one(RunsTable)
        await pilot.press("t")
        await _until(pilot, lambda: screen.shown_query.include_trials)
        box = screen.query_one("#runs-filter", Input)
        for n in range(SAMPLES):
            text = FILTERS[n % len(FILTERS)]
            started = time.perf_counter()
            box.value = text
            await _until(pilot, lambda t=text: screen.shown_query.where == t)
            results["filter"].append(time.perf_counter() - started)
            await _until(pilot, lambda: table.counted)
            results["filter count"].append(time.perf_counter() - started)
        box.value = ""
        await _until(pilot, lambda: screen.shown_query.where == "")
        table.focus()
        for n in range(SAMPLES):
            column = SORTS[n % len(SORTS)]
            started = time.perf_counter()
            table.sort_by(column)
            await _until(pilot, lambda: screen.shown_query.sort == table.query_sort())
            results["sort"].append(time.perf_counter() - started)
            await _until(pilot, lambda: table.counted)
            results["sort count"].append(time.perf_counter() - started)
        for n in range(SAMPLES // 2):
            started = time.perf_counter()
            await pilot.press("end" if n % 2 == 0 else "home")
            await _until(pilot, lambda: table.selected is not None)
            results["end" if n % 2 == 0 else "home"] = results.get("end" if n % 2 == 0 else "home", []) + [
                time.perf_counter() - started]
        results["total"] = [float(table.total)]
    return results


def _old_path(wb: Any, needle: str) -> int:
    """Before: every run read and viewed, filtered and sorted in Python (the screen's old way)."""
    from app.ml.catalogue import project_metric
    from app.services.training import list_runs

    runs = list_runs(wb, SLUG, include_trials=True)
    kept = [r for r in runs if needle in f"{r.number or ''} {r.model_kind} {r.created_by}".lower()]
    metric = f"val_{project_metric(runs[0].problem_type)}" if runs else ""
    kept.sort(key=lambda r: r.metrics.get(metric, float("-inf")), reverse=True)
    return len(kept)


def _new_path(wb: Any, needle: str) -> int:
    from app.services.run_query import query_runs

    page = query_runs(wb, SLUG, needle, "-val_roc_auc", limit=80, include_trials=True, with_total=True,
                      strict_sort=False)
    return page.total or 0


def _peak_mb(call: Any) -> float:
    gc.collect()
    tracemalloc.start()
    call()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def _measure_old(n_runs: int) -> tuple[list[float], float, float]:
    from app.services.workbench import Workbench
    from storage.workspace import Workspace

    wb = Workbench.open(Workspace(Path(os.environ["MLWB_HOME"])))
    samples = []
    for _ in range(3 if n_runs <= 20_000 else 1):
        started = time.perf_counter()
        _old_path(wb, "hist")
        samples.append(time.perf_counter() - started)
    old_mb = _peak_mb(lambda: _old_path(wb, "hist"))
    new_mb = _peak_mb(lambda: _new_path(wb, "hist"))
    wb.close()
    return samples, old_mb, new_mb


def main(argv: list[str] | None = None) -> None:
    from bench.runs_scale import built_workspace

    parser = argparse.ArgumentParser(prog="python -m bench.runs_table")
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 runs instead of 2,000 and 100,000")
    args = parser.parse_args(argv)
    sizes = (2_000, 20_000) if args.quick else (2_000, 100_000)
    print("runs_table: the runs screen (trials shown), a change to the repainted screen; the old full-list path "
          "in the same run")
    for n in sizes:
        home = built_workspace(n)
        os.environ["MLWB_HOME"] = str(home)
        os.environ.pop("MLWB_DATABASE_URL", None)
        os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
        ours = asyncio.run(_measure_screen())
        old, old_mb, new_mb = _measure_old(n)
        total = int(ours.pop("total")[0])
        print(f"  {n:>7,} runs ({total:,} in the table)")
        for op, label in (("open", "M: the screen with its first window"), ("filter", "filter box change: rows"),
                          ("filter count", "  … and the count of matches"), ("sort", "header sort change: rows"),
                          ("sort count", "  … and the count"), ("end", "end: the last run's window"),
                          ("home", "home: back to the first window")):
            print(f"    {label:<38} {summary(ours[op])}")
        print(f"    {'old path: list every run, filter+sort':<38} {summary(old)}")
        ratio = statistics.median(old) / statistics.median(ours["filter"])
        verdict = "meets" if statistics.median(ours["filter"]) <= TARGET_S else "MISSES"
        print(f"    old/new filter median ratio {ratio:7.1f}×  ({verdict} the ≤ 100 ms target)")
        print(f"    peak Python memory: one window {new_mb:6.1f} MB, the old whole list {old_mb:8.1f} MB")


if __name__ == "__main__":
    main()
