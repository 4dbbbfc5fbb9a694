"""A strip that shows running background jobs with their progress.

It polls the app's ``JobProgress`` a few times a second instead of receiving messages, so
workers never touch widgets and a flood of progress updates costs one redraw per tick.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar, Static

TICK_S = 0.25


class JobsPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("", id="jobs-title")
        yield ProgressBar(total=100, show_eta=False, id="jobs-bar")
        yield Label("", id="jobs-message")

    def on_mount(self) -> None:
        self.display = False
        self.set_interval(TICK_S, self._tick)

    def _tick(self) -> None:
        entries = self.app.progress.snapshot()  # type: ignore[attr-defined]
        self.display = bool(entries)
        if not entries:
            return
        job_id, label, fraction, message = entries[-1]
        more = f"  (+{len(entries) - 1} more)" if len(entries) > 1 else ""
        name = f"job {job_id}: {label}" if job_id else label
        self.query_one("#jobs-title", Static).update(f"[b]Running[/b] {name}{more}   [dim]j: jobs, cancel there[/dim]")
        bar = self.query_one("#jobs-bar", ProgressBar)
        if fraction < 0:
            bar.update(total=None)
        else:
            bar.update(total=100, progress=round(fraction * 100))
        self.query_one("#jobs-message", Label).update(message)
