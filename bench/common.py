"""Shared set-up for benchmarks: a throwaway workspace, never the user's."""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path


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
