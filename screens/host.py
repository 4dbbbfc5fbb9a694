"""A typed view of the app, for screens and widgets.

Screens sit below the faces (``app.tui``) in the import layers, so they cannot import the app
they run in; ``WorkbenchHost`` names what they use of it, and ``host_of`` checks that the
running app provides it (a test harness app that does not fails with a TypeError saying so,
not with an AttributeError deep in a worker).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from textual.app import App
from textual.worker import Worker

if TYPE_CHECKING:
    from app.jobs import JobRunner
    from app.services.workbench import Workbench
    from screens.widgets.jobs_panel import JobProgress


@runtime_checkable
class WorkbenchHost(Protocol):
    """What screens use of the app: the workspace, the background work it owns, its error handler."""

    wb: Workbench | None  # None until the workspace is open (the first frame comes first)
    runner: JobRunner | None
    progress: JobProgress
    offer_demo: bool

    def start_demo(self) -> None: ...

    def train_model(self, slug: str, kind: str, *, cv: int | None = None, tune: str | None = None,
                    trials: int = 20, dataset_id: int | None = None) -> Worker[None]: ...

    def retrain_now(self, slug: str, trigger_id: int | None = None, reason: str = "") -> Worker[None]: ...

    def build_report(self, slug: str, kind: str = "compliance", *, version: int | None = None,
                     batches: tuple[str, ...] | None = None, deterministic: bool = False) -> Worker[None]: ...

    def report_build_running(self, slug: str) -> bool: ...

    def cancel_report_builds(self, slug: str) -> bool: ...

    def cancel_job(self, job_id: int) -> bool: ...

    def report_worker_error(self, event: Worker.StateChanged) -> None: ...


def host_of(app: App[Any]) -> WorkbenchHost:
    """The running app as a ``WorkbenchHost``; a TypeError names the app that is not one."""
    if not isinstance(app, WorkbenchHost):
        raise TypeError(f"{type(app).__name__} does not provide what the workbench screens need (WorkbenchHost)")
    return app
