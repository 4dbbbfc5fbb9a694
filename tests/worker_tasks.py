"""Tasks for worker-process tests: run in a real ``spawn`` worker by ``app.jobs.JobRunner``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_task(payload: dict[str, Any], progress: Callable[[float, str], None], cancelled: Callable[[], bool]) -> int:
    """Write this worker's pid to ``payload['pid_file']``, then wait (as a long fit would) up to a minute."""
    Path(payload["pid_file"]).write_text(str(os.getpid()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not cancelled():
        time.sleep(0.05)
    return os.getpid()
