"""What every verb of ``mlwb`` needs when it runs: the workspace (its notices and the jobs a crash
left running said on stderr), a job runner for work done in a worker process, and the progress
line of such a job.

A module of its own so the verb modules share one copy and none of them imports the package
that assembles them (``app.cli``). Services and the runner load when a verb calls these, not at
import, so ``mlwb projects`` stays quick.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from app.jobs import JobRunner
    from app.services.workbench import Workbench
    from app.signing import SigningKey


def open_workspace() -> Workbench:
    from app.services.jobs import recover_interrupted
    from app.services.workbench import Workbench

    wb = Workbench.open()
    for notice in wb.notices:
        print(f"note: {notice}", file=sys.stderr)
    for job_id in recover_interrupted(wb):
        print(f"note: job {job_id} was left running by a crash and is now marked interrupted", file=sys.stderr)
    return wb


def job_runner(wb: Workbench, preload: str | None = None) -> JobRunner:
    """The runner of this command's jobs; ``preload``: what its job forkserver imports once,
    when not the ML libraries (``app.jobs.ML_PRELOAD``)."""
    from app.jobs import ML_PRELOAD, JobRunner
    from app.services.jobs import WorkbenchLedger

    return JobRunner(WorkbenchLedger(wb), preload=preload or ML_PRELOAD)


def progress_printer() -> Callable[[int, float, str], None]:
    def show(job_id: int, fraction: float, message: str) -> None:
        print(f"  job {job_id} {fraction:4.0%} {message}", file=sys.stderr)

    return show


def signer(key_file: Path | None) -> SigningKey | None:
    """The key a verb's ``--key FILE`` names, or None for my own (the workbench finds it)."""
    if key_file is None:
        return None
    from app.errors import WorkbenchError
    from app.signing import load_signing_key

    key = load_signing_key(key_file, "", file_only=True)
    if key is None:
        raise WorkbenchError(f"no signing key at {key_file}: give the private key file `mlwb people init` wrote")
    return key
