"""Key-to-screen latency on the runs screen while a tuning job runs (target p95 ≤ 50 ms).

Each sample: a ↓ or ↑ key event is handed to the driver, then the clock stops when the runs
table's cursor has moved and every widget of the screen has processed the messages that
were pending (so the repaint it asked for is done). Pilot's own ``press`` is not used as the
clock: it also waits until the whole *process* is idle, which counts the job-draining
thread's work as key latency. Animations are off. Baseline: the same keys with nothing
running, measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

from bench.common import scratch_home, summary

TRIALS = 20
IDLE_S = 4.0
MAX_KEYS = 400


async def _presses(pilot, table, busy) -> list[float]:  # type: ignore[no-untyped-def]
    from textual import events

    driver = pilot.app._driver
    samples: list[float] = []
    while busy() and len(samples) < MAX_KEYS:
        key = "down" if len(samples) % 2 == 0 else "up"
        before = table.cursor
        started = time.perf_counter()
        driver.send_message(events.Key(key, None))
        while table.cursor == before:
            await asyncio.sleep(0.0005)
        await pilot._wait_for_screen()
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)  # a person does not press 1,000 keys a second
    return samples


async def _measure() -> dict[str, list[float]]:
    from app.tui import WorkbenchApp
    from screens.runs import RunsScreen
    from screens.widgets.runs_table import RunsTable

    app = WorkbenchApp(offer_demo=False)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(2):
            await pilot.pause()
            await app.workers.wait_for_complete()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.press("M")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(RunsTable)
        table.focus()
        await pilot.pause()
        idle_until = time.perf_counter() + IDLE_S
        results = {"idle": await _presses(pilot, table, lambda: time.perf_counter() < idle_until)}
        worker = app.train_model("ctr-demo", "hist_gradient_boosting", tune="random", trials=TRIALS)
        while not app.progress.snapshot():
            if worker.is_finished:
                raise RuntimeError(f"tuning did not start: {worker.error!r}")
            await asyncio.sleep(0.02)
        results[f"random search, {TRIALS} trials"] = await _presses(pilot, table, lambda: bool(app.progress.snapshot()))
        await app.workers.wait_for_complete()
    return results


def main() -> None:
    scratch_home("tuning")
    subprocess.run([sys.executable, "-m", "app.cli", "demo"], check=True, capture_output=True, env=os.environ.copy())
    results = asyncio.run(_measure())
    idle = sorted(results["idle"])[len(results["idle"]) // 2]
    print("== key-to-screen latency on the runs screen while HistGradientBoosting is tuned (target p95 ≤ 50 ms) ==")
    for name, samples in results.items():
        median = sorted(samples)[len(samples) // 2]
        print(f"{name:28s} {summary(samples)}  median {median / idle:4.1f}x idle")


if __name__ == "__main__":
    main()
