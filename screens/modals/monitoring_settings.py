"""Stage 6 policy from the TUI: SLA rules (add, remove), drift thresholds and the retraining
schedule, the same service calls as `mlwb monitor sla|threshold|schedule`.

Each change is one audited service call in a thread worker; a refusal (an unknown metric, a
threshold that is not a positive number) is shown in the dialog with what was typed still
there. The dialogs return True when they changed something, so the monitoring screen reloads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from app.errors import WorkbenchError
from app.ml.drift_bands import DEFAULT_THRESHOLDS
from screens.host import host_of
from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.monitoring_policy import PolicySettings, SlaRuleView
    from app.services.workbench import Workbench

# Kept in step with app.services.monitoring_policy (COMPARATORS, severities); the services
# refuse anything else by name. The statistics are the drift verdict's own list.
COMPARATORS = (">=", "<=")
SEVERITIES = ("warning", "critical")
STATISTICS = tuple(DEFAULT_THRESHOLDS)
EVERY_FEATURE = "*"


class SettingsDialog(FormDialog[bool]):
    """Shared: the workspace, one write at a time in a thread, its refusal shown inline."""

    @dataclass
    class Applied(Message, bubble=False):
        result: Any

    @dataclass
    class Refused(Message, bubble=False):
        error: str

    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug
        self.changed = False

    @property
    def wb(self) -> Workbench:
        wb = host_of(self.app).wb
        if wb is None:
            raise WorkbenchError("The workspace is still opening; try again in a moment.")
        return wb

    @work(thread=True, exit_on_error=False, exclusive=True, group="settings-write")
    def apply(self, change: Callable[[Workbench], Any]) -> None:
        try:
            self.post_message(self.Applied(change(self.wb)))
        except WorkbenchError as exc:
            self.post_message(self.Refused(str(exc)))

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        self.query_one(".dialog-error", Static).update(message.error)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            host_of(self.app).report_worker_error(event)

    def action_cancel(self) -> None:
        self.dismiss(self.changed)


def _number(text: str, what: str) -> float | str:
    try:
        return float(text.strip())
    except ValueError:
        return f"{what} must be a number, not '{text.strip()}'"


class SlaRulesDialog(SettingsDialog):
    """The project's active SLA rules; ctrl+s adds the rule in the form, delete removes the highlighted one."""

    BINDINGS = [
        Binding("escape", "cancel", "Close", id="sla_dialog.close", tooltip="Close (the screen shows the rules)"),
        Binding("ctrl+s", "submit", "Add rule", id="sla_dialog.add",
                tooltip="Add the rule in the form (audited; every later batch is checked against it)"),
        Binding("delete", "remove", "Remove rule", id="sla_dialog.remove",
                tooltip="Remove the highlighted rule (audited; batches already checked keep their outcome)"),
    ]

    def __init__(self, slug: str, rules: list[SlaRuleView]) -> None:
        super().__init__(slug)
        self.rules = list(rules)

    def compose(self) -> ComposeResult:
        from app.services.monitoring_policy import SLA_METRICS

        with VerticalScroll(classes="dialog form settings-dialog", id="sla-dialog"):
            yield Label(f"SLA rules of {self.slug} · ctrl+s adds, delete removes the highlighted, esc closes",
                        classes="dialog-title")
            yield DataTable(id="sla-rules", cursor_type="row")
            yield Label("Add a rule: it holds when METRIC COMPARATOR THRESHOLD", classes="import-section")
            with Horizontal(id="sla-form"):
                with Vertical(classes="import-field sla-metric-field"):
                    yield Label("Metric")
                    yield Select([(f"{name} · {help_text}", name) for name, help_text in SLA_METRICS.items()],
                                 prompt="choose the metric", id="sla-metric")
                with Vertical(classes="import-field"):
                    yield Label("Comparator")
                    yield Select([(c, c) for c in COMPARATORS], value=">=", allow_blank=False, id="sla-comparator")
                with Vertical(classes="import-field"):
                    yield Label("Threshold")
                    yield Input(id="sla-threshold", placeholder="0.8")
                with Vertical(classes="import-field"):
                    yield Label("Severity")
                    yield Select([(s, s) for s in SEVERITIES], value="warning", allow_blank=False,
                                 id="sla-severity")
            yield Static("", classes="dialog-error", id="sla-error")
            yield FormButtons("Add rule")

    def on_mount(self) -> None:
        table = self.query_one("#sla-rules", DataTable)
        table.add_columns("#", "Rule", "Severity")
        self._show_rules()
        self.query_one("#sla-metric", Select).focus()

    def _show_rules(self) -> None:
        table = self.query_one("#sla-rules", DataTable)
        table.clear()
        for rule in self.rules:
            table.add_row(str(rule.id), rule.describe(), Text(rule.severity, style="bold red"
                                                              if rule.severity == "critical" else "yellow"),
                          key=str(rule.id))
        if not self.rules:
            table.add_row("—", Text("no rules yet: add one below", style="dim"), "", key="none")

    def action_submit(self) -> None:
        from app.services import monitoring_policy

        metric = self.query_one("#sla-metric", Select).value
        if metric is Select.NULL:
            self.query_one("#sla-error", Static).update("Choose the metric the rule watches.")
            return
        threshold = _number(self.query_one("#sla-threshold", Input).value, "the threshold")
        if isinstance(threshold, str):
            self.query_one("#sla-error", Static).update(threshold)
            return
        comparator = str(self.query_one("#sla-comparator", Select).value)
        severity = str(self.query_one("#sla-severity", Select).value)
        self.query_one("#sla-error", Static).update("")
        self.apply(lambda wb: ("added", monitoring_policy.add_sla_rule(wb, self.slug, str(metric), comparator,
                                                                       threshold, severity=severity)))

    def action_remove(self) -> None:
        from app.services import monitoring_policy

        table = self.query_one("#sla-rules", DataTable)
        rule = next((r for r in self.rules if table.row_count and str(r.id) == table.coordinate_to_cell_key(
            table.cursor_coordinate).row_key.value), None)
        if rule is None:
            self.query_one("#sla-error", Static).update("Highlight a rule in the table first (tab to it, ↑ ↓).")
            return
        self.apply(lambda wb: ("removed", monitoring_policy.remove_sla_rule(wb, self.slug, rule.id) or rule))

    @on(SettingsDialog.Applied)
    def _applied(self, message: SettingsDialog.Applied) -> None:
        what, rule = message.result
        self.changed = True
        if what == "added":
            self.rules.append(rule)
            self.query_one("#sla-threshold", Input).value = ""
        else:
            self.rules = [r for r in self.rules if r.id != rule.id]
        self._show_rules()
        self.notify(f"SLA rule {rule.describe()} ({rule.severity}) {what}.", title="SLA rules")


class ThresholdDialog(SettingsDialog):
    """The effect size at which a feature (or every feature) counts as drifted."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="threshold_dialog.cancel", tooltip="Close without a change"),
        Binding("ctrl+s", "submit", "Set threshold", id="threshold_dialog.set",
                tooltip="Set the threshold (audited; the next analysis uses it)"),
    ]

    def __init__(self, slug: str, features: list[str]) -> None:
        super().__init__(slug)
        self.features = features

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form settings-dialog", id="threshold-dialog"):
            yield Label(f"Drift thresholds of {self.slug} · ctrl+s sets, esc cancels", classes="dialog-title")
            yield Static("reading the thresholds…", id="threshold-current", classes="settings-current")
            yield Label("Feature (* for every feature without its own)")
            yield Select([("* every feature", EVERY_FEATURE), *((f, f) for f in self.features)], value=EVERY_FEATURE,
                         allow_blank=False, id="threshold-feature")
            yield Label("Statistic")
            yield Select([(s, s) for s in STATISTICS], value="psi", allow_blank=False, id="threshold-statistic")
            yield Label("Value (a positive effect size, e.g. 0.2)")
            yield Input(id="threshold-value", placeholder="0.2")
            yield Static("", classes="dialog-error", id="threshold-error")
            yield FormButtons("Set threshold")

    def on_mount(self) -> None:
        self.query_one("#threshold-value", Input).focus()
        self._read()

    @dataclass
    class Read(Message, bubble=False):
        settings: PolicySettings

    @work(thread=True, exit_on_error=False, group="settings-read")
    def _read(self) -> None:
        from app.services.monitoring_policy import policy_settings

        self.post_message(self.Read(policy_settings(self.wb, self.slug)))

    @on(Read)
    def _show(self, message: Read) -> None:
        settings = message.settings
        text = Text("Defaults: ", style="bold")
        text.append(", ".join(f"{k} {v:g}" for k, v in settings.defaults.items()) + "\n")
        if not settings.thresholds:
            text.append("No threshold set: the defaults apply to every feature.", style="dim")
        for feature, values in sorted(settings.thresholds.items()):
            text.append(f"{feature}: ", style="bold")
            text.append(", ".join(f"{k} {v:g}" for k, v in sorted(values.items())) + "\n")
        self.query_one("#threshold-current", Static).update(text)

    def action_submit(self) -> None:
        from app.services import monitoring_policy

        value = _number(self.query_one("#threshold-value", Input).value, "the threshold")
        if isinstance(value, str):
            self.query_one("#threshold-error", Static).update(value)
            return
        feature = str(self.query_one("#threshold-feature", Select).value)
        statistic = str(self.query_one("#threshold-statistic", Select).value)
        self.apply(lambda wb: monitoring_policy.set_drift_threshold(wb, self.slug, feature, statistic, value))

    @on(SettingsDialog.Applied)
    def _applied(self, message: SettingsDialog.Applied) -> None:
        self.notify("Drift threshold set; the next batch analysis uses it.", title="Drift thresholds")
        self.dismiss(True)


class ScheduleDialog(SettingsDialog):
    """Retrain every N days (`mlwb retrain --scheduled` runs it when due), or off."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="schedule_dialog.cancel", tooltip="Close without a change"),
        Binding("ctrl+s", "submit", "Set schedule", id="schedule_dialog.set",
                tooltip="Set the retraining schedule (audited); empty turns it off"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form settings-dialog", id="schedule-dialog"):
            yield Label(f"Retraining schedule of {self.slug} · ctrl+s sets, esc cancels", classes="dialog-title")
            yield Static("reading the schedule…", id="schedule-current", classes="settings-current")
            yield Label("Retrain every N days (empty: no schedule)")
            yield Input(id="schedule-days", type="integer", placeholder="30")
            yield Static("A scheduled retraining runs when `mlwb retrain --scheduled` finds it due (a cron job, "
                         "for instance); n on the monitoring screen retrains now.", classes="note")
            yield Static("", classes="dialog-error", id="schedule-error")
            yield FormButtons("Set schedule")

    def on_mount(self) -> None:
        self.query_one("#schedule-days", Input).focus()
        self._read()

    @dataclass
    class Read(Message, bubble=False):
        every_days: int | None

    @work(thread=True, exit_on_error=False, group="settings-read")
    def _read(self) -> None:
        from app.services.monitoring_policy import policy_settings

        self.post_message(self.Read(policy_settings(self.wb, self.slug).retrain_every_days))

    @on(Read)
    def _show(self, message: Read) -> None:
        days = message.every_days
        self.query_one("#schedule-current", Static).update(
            f"Now: every {days} day(s)" if days else Text("Now: no schedule", style="dim"))
        if days and not self.query_one("#schedule-days", Input).value:
            self.query_one("#schedule-days", Input).value = str(days)

    def action_submit(self) -> None:
        from app.services import monitoring_policy

        text = self.query_one("#schedule-days", Input).value.strip()
        try:
            days = int(text) if text else None
        except ValueError:
            self.query_one("#schedule-error", Static).update(f"days must be a whole number, not '{text}'")
            return
        self.apply(lambda wb: monitoring_policy.set_retraining_schedule(wb, self.slug, days) or days)

    @on(SettingsDialog.Applied)
    def _applied(self, message: SettingsDialog.Applied) -> None:
        days = message.result
        self.notify(f"Retrain every {days} day(s)." if days else "Retraining schedule off.",
                    title="Retraining schedule")
        self.dismiss(True)
