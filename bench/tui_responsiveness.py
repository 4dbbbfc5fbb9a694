"""Does the TUI keep answering keys while a model trains?

Key latency = how long Pilot's ``press`` takes to deliver a stage-switch key and see the
screen idle again, on the demo project (40,000 interactions), in three conditions:

- idle: nothing running (the floor);
- worker process: the workbench's way — HistGradientBoosting trains in a spawn process;
- in-process thread: the named baseline this design rejects — the same fit in a thread of
  the TUI's own process, where it competes for the GIL with the event loop.
"""

from __future__ import annotations

import asyncio

from bench.common import (
    open_demo_project, press_during_thread, press_during_worker, press_idle, print_key_latency, scratch_home,
)

KIND = "hist_gradient_boosting"
FITS = 3  # each condition trains this many models back to back, for enough key samples


async def _measure() -> dict[str, list[float]]:
    from app.ml.training import train_model
    from app.ml.training_spec import TrainingSpec
    from app.services.training import plan_training
    from app.tui import WorkbenchApp

    app = WorkbenchApp(offer_demo=False)
    results: dict[str, list[float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        tabs = await open_demo_project(app, pilot)
        results["idle"] = await press_idle(pilot, tabs)

        results["worker process"] = await press_during_worker(
            app, pilot, tabs, lambda: app.train_model("ctr-demo", KIND), lambda: bool(app.progress.snapshot()), FITS)

        plan = plan_training(app.wb, "ctr-demo", KIND)

        def fit_in_thread() -> None:
            for _ in range(FITS):
                train_model(TrainingSpec(**plan.payload))

        results["in-process thread"] = await press_during_thread(pilot, tabs, fit_in_thread)
    return results


def main() -> None:
    import os
    import subprocess
    import sys

    scratch_home("keys")
    subprocess.run([sys.executable, "-m", "app.cli", "demo"], check=True, capture_output=True, env=os.environ.copy())
    results = asyncio.run(_measure())
    print(f"== key latency while {KIND} trains on the demo (40,000 rows) ==")
    print_key_latency(results, 18)


if __name__ == "__main__":
    main()
