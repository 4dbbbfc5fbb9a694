"""A strip that shows running background jobs with their progress, and the board it reads.

The panel polls the app's ``JobProgress`` a few times a second instead of receiving messages,
so workers never touch widgets and a flood of progress updates costs one redraw per tick.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar, Static

from screens.host import host_of

TICK_S = 0.25


class JobProgress:
    """Live progress of running jobs, written by worker threads, read by the jobs panel."""

    def __init__(self) -> None:
        self.entries: dict[int, tuple[str, float, str]] = {}

    def update(self, job_id: int, label: str, fraction: float, message: str) -> None:
        self.entries[job_id] = (label, fraction, message)

    def finish(self, job_id: int) -> None:
        self.entries.pop(job_id, None)

    def snapshot(self) -> list[tuple[int, str, float, str]]:
        return [(job_id, *entry) for job_id, entry in sorted(dict(self.entries).items())]


class JobsPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Static("", id="jobs-title")
        yield ProgressBar(total=100, show_eta=False, id="jobs-bar")
        yield Label("", id="jobs-message")

    def on_mount(self) -> None:
        self.progress = host_of(self.app).progress
        self.display = False
        self.set_interval(TICK_S, self._tick)

    def _tick(self) -> None:
        entries = self.progress.snapshot()
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
