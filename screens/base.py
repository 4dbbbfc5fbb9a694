"""The base of every full screen: failed workers go to the app's single error handler.

``Worker.StateChanged`` does not bubble, so a screen's own ``@work`` methods would fail
silently without this hand-off.
"""

from __future__ import annotations

from textual import on
from textual.screen import Screen
from textual.worker import Worker


class WorkbenchScreen(Screen[None]):
    @on(Worker.StateChanged)
    def _hand_worker_errors_to_app(self, event: Worker.StateChanged) -> None:
        self.app.report_worker_error(event)  # type: ignore[attr-defined]
