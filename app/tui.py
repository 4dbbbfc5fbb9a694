"""The Textual app: opens the workspace, owns the job runner, routes errors to notifications.

Its workers post what happened (``screens.messages``) to the app, which passes it on to the
screens: results flow one way, and the app never reaches into a screen.

The first frame is drawn before the workspace is opened (migrations, key loading) and long
before pandas or scikit-learn are imported: screens only import services, and services import
``app.ml`` inside the functions that compute.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from app.errors import JobCancelled, WorkbenchError
from screens.commands import ProjectCommands, ScreenActions
from screens.dashboard import DashboardScreen
from screens.messages import ReportBuilt, ReportBuildStarted, ReportBuildStopped, WorkbenchChanged, WorkspaceOpened
from screens.widgets.jobs_panel import JobProgress

if TYPE_CHECKING:
    from app.jobs import JobRunner
    from app.services.workbench import Workbench

ASSETS = Path(__file__).resolve().parent.parent / "assets"


class WorkbenchApp(App[int]):
    TITLE = "ML Lifecycle Workbench"
    CSS_PATH = [str(ASSETS / "workbench.tcss"),
                str(ASSETS / "import.tcss"),  # file picker, import and monitoring-settings dialogs
                str(ASSETS / "actions.tcss"),  # register, card, waiver and analysis dialogs
                str(ASSETS / "workspace.tcss")]  # people screen; maturity, inventory and key dialogs
    COMMANDS = App.COMMANDS | {ProjectCommands, ScreenActions}
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="app.quit"),
        Binding("f1", "help", "Keys", id="app.help", tooltip="Show the keys of this screen"),
    ]

    def __init__(self, *, offer_demo: bool = True, demo_rows: int = 40_000, demo_batch_rows: int = 5_000) -> None:
        super().__init__()
        self.wb: Workbench | None = None
        self.runner: JobRunner | None = None
        self.progress = JobProgress()
        self.offer_demo = offer_demo
        self.demo_rows = demo_rows
        self.demo_batch_rows = demo_batch_rows
        self.demo_running = False
        self.report_builds: dict[str, list[threading.Event]] = {}  # slug -> cancel events of running builds

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen())
        self.open_workspace()

    @work(thread=True, exit_on_error=False, group="open")
    def open_workspace(self) -> None:
        from app.startup import import_frozen

        import_frozen("app.services.jobs")  # SQLAlchemy, the models, the workbench: see app.startup
        from app.jobs import JobRunner
        from app.services.jobs import WorkbenchLedger, declare_face, recover_interrupted
        from app.services.workbench import Workbench

        declare_face("tui")  # the jobs list names this session as the owner of what it runs
        wb = Workbench.open()
        interrupted = recover_interrupted(wb)
        self.wb, self.runner = wb, JobRunner(WorkbenchLedger(wb))
        self.post_message(WorkspaceOpened(wb.notices, interrupted))

    @on(WorkspaceOpened)
    def _workspace_opened(self, opened: WorkspaceOpened) -> None:
        for notice in opened.notices:
            self.notify(notice, title="Audit key", timeout=12)
        if opened.interrupted:
            self.notify(f"Job(s) {', '.join(map(str, opened.interrupted))} were interrupted by a crash and marked "
                        "so.", severity="warning")
        self._tell_screens(opened)

    @on(WorkbenchChanged)
    @on(ReportBuildStarted)
    @on(ReportBuilt)
    @on(ReportBuildStopped)
    def _tell_screens(self, news: WorkspaceOpened | WorkbenchChanged | ReportBuildStarted | ReportBuilt
                      | ReportBuildStopped) -> None:
        """Pass what the app's workers (or a screen, for every screen) posted to the app on to
        each screen in the stack; a screen that does not show it has no handler and ignores it."""
        for screen in self.screen_stack:
            screen.post_message(replace(news))  # a message is dispatched once: each screen gets its own

    # --- background work shared by screens -------------------------------------------------

    def start_demo(self) -> None:
        """Build the demo in the background, once at a time."""
        if self.demo_running:
            self.notify("The demo is already being built; its progress is at the bottom.", severity="warning")
            return
        self.demo_running = True
        self.run_demo()

    @work(thread=True, exit_on_error=False, group="jobs")
    def run_demo(self) -> None:
        from app.services.demo import run_demo

        assert self.wb is not None and self.runner is not None
        # The demo shows as one entry: its current step as the label, the step's job as the bar.
        current = ["demo"]

        def step(message: str) -> None:
            current[0] = f"demo · {message}"
            self.progress.update(0, current[0], -1.0, "")

        def job_progress(job_id: int, fraction: float, message: str) -> None:
            self.progress.update(0, f"{current[0]} (job {job_id})", fraction, message)

        try:
            outcome = run_demo(self.wb, self.runner, rows=self.demo_rows, batch_rows=self.demo_batch_rows, step=step,
                               on_progress=job_progress)
        finally:
            self.progress.entries.clear()
            self.demo_running = False
        self.notify(f"Demo project {outcome.slug} is at stage {outcome.stage} of 6.", title="Demo ready")
        if outcome.new_key:
            self.notify(f"Your signing key was created ({outcome.new_key}); it proves what you approve. Back it up; "
                        "`mlwb people whoami` shows it.", title="Signing key", timeout=12)
        self.post_message(WorkbenchChanged())

    @work(thread=True, exit_on_error=False, group="jobs")
    def train_model(self, slug: str, kind: str, *, cv: int | None = None, tune: str | None = None, trials: int = 20,
                    dataset_id: int | None = None) -> None:
        """Train in a worker process; ``cv`` folds and ``tune`` method/``trials`` as `mlwb train` takes them."""
        from app.services import training

        assert self.wb is not None and self.runner is not None
        queued: list[int] = []

        def on_queued(job_id: int) -> None:
            queued.append(job_id)
            self.progress.update(job_id, f"{kind} ({slug})", 0.0, "starting worker process")

        def on_progress(job_id: int, fraction: float, message: str) -> None:
            self.progress.update(job_id, f"{kind} ({slug})", fraction, message)

        try:
            run = training.train(self.wb, self.runner, slug, kind, dataset_id=dataset_id, cv=cv, tune=tune,
                                 trials=trials, on_progress=on_progress, on_queued=on_queued)
        finally:
            for job_id in queued:
                self.progress.finish(job_id)
            self.post_message(WorkbenchChanged())
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(run.metrics.items()) if k.startswith("val_"))[:120]
        self.notify(f"Run {run.id} {kind}: {shown or 'logged'}", title="Training finished")

    @work(thread=True, exit_on_error=False, group="jobs")
    def retrain_now(self, slug: str, trigger_id: int | None = None, reason: str = "") -> None:
        """Retrain in a worker process, answering ``trigger_id`` or (None) on demand with ``reason``.

        This thread only waits for the job runner, so the screens keep answering keys; the
        screens are refreshed once the job is queued (the trigger shows its job) and at the end.
        """
        from app.services import retraining

        assert self.wb is not None and self.runner is not None
        label = f"retrain ({slug})" + (f", trigger #{trigger_id}" if trigger_id else "")
        seen: list[int] = []

        def on_queued(job_id: int) -> None:
            seen.append(job_id)
            self.progress.update(job_id, label, 0.0, "starting worker process")
            self.post_message(WorkbenchChanged())

        def on_progress(job_id: int, fraction: float, message: str) -> None:
            if job_id not in seen:
                seen.append(job_id)
            self.progress.update(job_id, label, fraction, message)

        try:
            outcome = retraining.retrain(self.wb, self.runner, slug, trigger_id, reason=reason,
                                         on_progress=on_progress, on_queued=on_queued)
        finally:
            for job_id in seen:
                self.progress.finish(job_id)
            self.post_message(WorkbenchChanged())
        against = f" against the baseline and champion v{outcome.champion_version}" if outcome.champion_version else ""
        self.notify(f"Run {outcome.run_id} answers trigger #{outcome.trigger_id}: registered as version "
                    f"{outcome.version}, compared{against} on the new split. Still a person's: confirm its card, "
                    "a second person's approval, the promotion (release screen)."
                    + "".join(f" Note: {n}." for n in outcome.notes), title="Retraining finished", timeout=12)

    @work(thread=True, exit_on_error=False, group="jobs")
    def build_report(self, slug: str, kind: str = "compliance", *, version: int | None = None,
                     batches: tuple[str, ...] | None = None, deterministic: bool = False) -> None:
        """Build a report: the records are collected in this thread, the PDF is laid out in a worker
        process (see ``report_builder.build_report``). Progress shows in the jobs panel without a job
        number: a report build has no job row."""
        from app.services.report_builder import NO_JOB, build_report, document_titles

        assert self.wb is not None and self.runner is not None
        label = f"{document_titles().get(kind, kind).lower()} ({slug})" + (", deterministic" if deterministic else "")
        cancel = threading.Event()
        self.report_builds.setdefault(slug, []).append(cancel)
        self.progress.update(NO_JOB, label, -1.0, "collecting the records")
        self.post_message(ReportBuildStarted(slug))

        def on_progress(job_id: int, fraction: float, message: str) -> None:
            self.progress.update(job_id, label, fraction, message)

        built = None
        try:
            built = build_report(self.wb, self.runner, slug, kind, version=version, batches=batches,
                                 deterministic=deterministic, on_progress=on_progress, cancel=cancel)
        finally:
            self.progress.finish(NO_JOB)
            self.report_builds[slug].remove(cancel)
            self.post_message(ReportBuildStopped(slug) if built is None else ReportBuilt(slug, built))
        head = f"prints audit head #{built.head_seq}" + (" (nothing recorded)" if deterministic else "")
        self.notify(f"{built.path}\n{built.pages} pages; {head}.", title="Report written", timeout=12)

    def report_build_running(self, slug: str) -> bool:
        return bool(self.report_builds.get(slug))

    def cancel_report_builds(self, slug: str) -> bool:
        """Cancel every running report build of ``slug``; False when there is none."""
        builds = list(self.report_builds.get(slug, ()))
        for cancel in builds:
            cancel.set()
        return bool(builds)

    def cancel_job(self, job_id: int) -> bool:
        return self.runner is not None and self.runner.cancel(job_id)

    @on(Worker.StateChanged)
    def report_worker_error(self, event: Worker.StateChanged) -> None:
        """One place turns every failed background task into a notification; the app stays up."""
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if isinstance(error, JobCancelled):
            self.notify(str(error), title="Cancelled", severity="warning")
        elif isinstance(error, WorkbenchError):
            from screens.verb_hint import stack_bindings, with_tui_keys

            self.notify(with_tui_keys(str(error), stack_bindings(self.screen_stack)), title="Cannot do that",
                        severity="error", timeout=10)
        else:
            self.log.error(repr(error))
            self.notify(f"Unexpected error: {type(error).__name__}: {error}", title="Bug", severity="error",
                        timeout=15)

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def on_unmount(self) -> None:
        for builds in self.report_builds.values():
            for cancel in builds:
                cancel.set()
        if self.runner is not None:
            for job_id in self.runner.running_ids():
                self.runner.cancel(job_id)
        if self.wb is not None:
            self.wb.close()


def run_tui() -> int:
    return WorkbenchApp().run() or 0


class ReviewApp(App[int]):
    """`mlwb review open BUNDLE`: one evidence bundle, read-only, with no workspace at all.

    A validator's machine never sees the team's registry: this app opens no database and
    creates nothing under ``MLWB_HOME`` (``screens.review``); the only file it writes is the
    signed review, when the validator signs.
    """

    TITLE = "ML Lifecycle Workbench · review"
    CSS_PATH = [str(ASSETS / "workbench.tcss"), str(ASSETS / "review.tcss")]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True, id="review_app.quit"),
        Binding("f1", "help", "Keys", id="review_app.help", tooltip="Show the keys of this screen"),
    ]

    def __init__(self, bundle: Path, *, key_file: Path | None = None) -> None:
        super().__init__()
        self.bundle = Path(bundle)
        self.key_file = key_file

    def on_mount(self) -> None:
        from screens.review import ReviewScreen

        self.push_screen(ReviewScreen(self.bundle, key_file=self.key_file))

    def action_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()


def run_review(bundle: Path, *, key_file: Path | None = None) -> int:
    return ReviewApp(bundle, key_file=key_file).run() or 0
