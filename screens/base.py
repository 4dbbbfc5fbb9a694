"""What every full screen shares: a typed view of the app (``screens.host``), failed workers
handed to the app's one error handler, and the compose → reload → load in a thread → show
cycle, written once (``SnapshotScreen``)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from textual import on, work
from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker, get_current_worker

from app.errors import WorkbenchError
from screens.host import WorkbenchHost, host_of
from screens.messages import WorkbenchChanged
from screens.widgets.jobs_panel import JobsPanel

if TYPE_CHECKING:
    from app.jobs import JobRunner
    from app.services.workbench import Workbench

SnapshotT = TypeVar("SnapshotT")


class WorkbenchScreen(Screen[None]):
    """A full screen of the workbench (modal dialogs are not)."""

    @cached_property
    def host(self) -> WorkbenchHost:
        return host_of(self.app)

    @property
    def wb(self) -> Workbench:
        """The open workspace; the screens that act on it are reached only once it is open."""
        wb = self.host.wb
        if wb is None:
            raise WorkbenchError("The workspace is still opening; try again in a moment.")
        return wb

    @property
    def runner(self) -> JobRunner:
        """The job runner, opened with the workspace."""
        runner = self.host.runner
        if runner is None:
            raise WorkbenchError("The workspace is still opening; try again in a moment.")
        return runner

    @on(Worker.StateChanged)
    def _hand_worker_errors_to_app(self, event: Worker.StateChanged) -> None:
        """``Worker.StateChanged`` does not bubble: without this a screen's own ``@work``
        methods would fail silently."""
        self.host.report_worker_error(event)

    def announce_change(self, *, everywhere: bool = False) -> None:
        """Say, from any thread, that this screen's action recorded something: this screen
        reloads, or with ``everywhere`` every open screen does (the app passes it on)."""
        (self.app if everywhere else self).post_message(WorkbenchChanged())


class SnapshotScreen(WorkbenchScreen, Generic[SnapshotT]):
    """A screen that shows a snapshot its services read in a thread worker.

    ``reload`` (on mount, on ``r``, when the workbench changed) runs ``load`` in a thread; the
    snapshot comes back as a ``Loaded`` message and ``show`` lays it out. A load that a newer
    one replaced is dropped, so an older snapshot never overwrites a newer one, and a screen
    closed meanwhile receives nothing.

    Subclasses write ``compose_body``, ``load`` and ``show``. Textual calls the ``on_mount`` of
    every class in the MRO, subclass first: a subclass's ``on_mount`` (focusing its table)
    runs before the first load starts.
    """

    JOBS_PANEL: ClassVar[bool] = True  # the strip of running jobs above the footer

    @dataclass
    class Loaded(Message, bubble=False):
        snapshot: Any

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_body()
        if self.JOBS_PANEL:
            yield JobsPanel()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        if self.host.wb is not None:
            self._load_snapshot(self.host.wb)

    @work(thread=True, exit_on_error=False, exclusive=True, group="load")
    def _load_snapshot(self, wb: Workbench) -> None:
        snapshot = self.load(wb)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(snapshot))

    def load(self, wb: Workbench) -> SnapshotT:
        """Read what the screen shows; runs in a worker thread, so services only, no widgets."""
        raise NotImplementedError

    def show(self, snapshot: SnapshotT) -> Awaitable[None] | None:
        """Lay the snapshot out (on the event loop)."""
        raise NotImplementedError

    @on(Loaded)
    async def _loaded(self, message: Loaded) -> None:
        shown = self.show(message.snapshot)
        if inspect.isawaitable(shown):
            await shown

    @on(WorkbenchChanged)
    def _workbench_changed(self) -> None:
        self.reload()

    def action_reload(self) -> None:
        self.reload()
