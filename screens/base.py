"""What every full screen shares: a typed view of the app (``screens.host``) and failed workers
handed to the app's one error handler."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from textual import on
from textual.screen import Screen
from textual.worker import Worker

from app.errors import WorkbenchError
from screens.host import WorkbenchHost, host_of

if TYPE_CHECKING:
    from app.services.workbench import Workbench


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

    @on(Worker.StateChanged)
    def _hand_worker_errors_to_app(self, event: Worker.StateChanged) -> None:
        """``Worker.StateChanged`` does not bubble: without this a screen's own ``@work``
        methods would fail silently."""
        self.host.report_worker_error(event)
