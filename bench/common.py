"""Shared set-up for benchmarks: a throwaway workspace (never the user's), and the key-latency
probe the TUI benchmarks press on the demo project's screen."""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAX_KEYS = 200
IDLE_SECONDS = 3.0


def scratch_home(name: str) -> Path:
    home = Path(tempfile.mkdtemp(prefix=f"mlwb-bench-{name}-")) / "home"
    os.environ["MLWB_HOME"] = str(home)
    os.environ.pop("MLWB_DATABASE_URL", None)
    os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return home


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  n={len(ordered)}"


async def open_demo_project(app: Any, pilot: Any) -> Any:
    """Open the demo project's screen (the first row) and return its stage tabs.

    Tab underlines animate for ~0.3 s and Pilot waits for animations: with animations off the
    probe measures the key handling, not the animation.
    """
    from textual.widgets import TabbedContent

    app.animation_level = "none"
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()
    return app.screen.query_one("#stages", TabbedContent)


async def press_while(pilot: Any, busy: Callable[[], bool], tabs: Any) -> list[float]:
    """Seconds each stage-switch key ("1", "2", ...) takes to be handled, while ``busy()``."""
    samples: list[float] = []
    keys = ["1", "2"]
    while busy() and len(samples) < MAX_KEYS:
        key = keys[len(samples) % 2]
        started = time.perf_counter()
        await pilot.press(key)
        samples.append(time.perf_counter() - started)
        assert tabs.active == f"stage-{key}", "the key was not handled"
    return samples


async def press_during_worker(app: Any, pilot: Any, tabs: Any, start: Callable[[], Any],
                              running: Callable[[], bool], times: int) -> list[float]:
    """Key latency while the app's own background work runs, ``times`` times in a row:
    ``start()`` launches it (returns the Textual worker), ``running()`` says it is under way."""
    samples: list[float] = []
    for _ in range(times):
        worker = start()
        while not running():
            if worker.is_finished:
                raise RuntimeError(f"the background work did not start: {worker.error!r}")
            await asyncio.sleep(0.01)
        samples += await press_while(pilot, running, tabs)
        await app.workers.wait_for_complete()
    return samples


async def press_during_thread(pilot: Any, tabs: Any, work: Callable[[], None]) -> list[float]:
    """Key latency while ``work`` runs in a thread of the TUI's own process (a rejected design:
    it competes with the event loop for the GIL)."""
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    samples = await press_while(pilot, thread.is_alive, tabs)
    thread.join()
    return samples


async def press_idle(pilot: Any, tabs: Any) -> list[float]:
    """The floor: key latency with nothing running, for ``IDLE_SECONDS``."""
    until = time.perf_counter() + IDLE_SECONDS
    return await press_while(pilot, lambda: time.perf_counter() < until, tabs)


def print_key_latency(results: dict[str, list[float]], width: int = 22) -> None:
    """One line per condition, with its median as a multiple of the idle median."""
    idle = statistics.median(results["idle"])
    for name, samples in results.items():
        print(f"{name:{width}s} {summary(samples)}  median {statistics.median(samples) / idle:5.1f}x idle")
