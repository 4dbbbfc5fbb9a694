"""Stage 6 at full size: drift per feature and batch, the selected batch's statistics, trends,
alerts, SLA status and the retraining triggers with the runs that answered them.

What the platform lead watches, in one place: which features moved and how far (PSI by band,
marked where the test said "drifted"), whether quality on labelled rows is falling, which rules
were breached, and whether the alert that fired has been answered by a retrained run. The
numbers are the monitoring service's; this screen only lays them out. "Retrain now" runs
``retraining.retrain`` through the app's ``retrain_now`` worker: the training itself is in a
worker process, so this screen keeps answering keys while it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, Static

from app.ml.catalogue import metric_direction, project_metric
from screens.base import SnapshotScreen
from screens.widgets.charts import coloured_bar_chart, trend
from screens.widgets.drift_heat import BAND_COLOURS, BAND_STYLES, DRIFTED_MARK, DriftHeat, band, row_label
from screens.widgets.tables import cursor_key, row_table

if TYPE_CHECKING:
    from app.services.monitoring_alerts import AlertView
    from app.services.monitoring_batches import BatchView, DriftResultView
    from app.services.monitoring_policy import SlaRuleView
    from app.services.projects import ProjectSummary
    from app.services.retraining import TriggerView
    from app.services.workbench import Workbench

TREND_METRICS = 4  # metric trends drawn; the rest are in the selected batch's line
SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow"}
TRIGGER_STATUS_STYLE = {"open": "bold yellow", "running": "cyan", "answered": "green", "done": "green",
                        "completed": "green", "failed": "bold red", "dismissed": "dim"}
# Widths that fit a 120-column terminal; the last column takes what is left and is cut there.
DETAIL_COLUMNS = (("Feature", 20), ("Kind", 4), ("PSI", 6), ("KS", 6), ("KS p", 7), ("χ²", 8), ("χ² p", 7),
                  ("JS", 6), ("W", 6), ("Verdict", 9), ("Note", 14))
KIND_SHORT = {"numeric": "num", "categorical": "cat", "boolean": "bool", "datetime": "time", "text": "text"}
ALERT_COLUMNS = (("#", 3), ("Batch", 8), ("Severity", 8), ("Rule", 24), ("Value", 6), ("Status", 6),
                 ("Trigger", 7), ("Message", 34))
TRIGGER_COLUMNS = (("#", 3), ("Kind", 9), ("Status", 8), ("Cause", 18), ("Lineage → run", 26), ("By", 12),
                   ("Reason", 24))
TREND_BAR_WIDTH = 14


@dataclass(frozen=True)
class MonitoringSnapshot:
    project: ProjectSummary
    batches: list[BatchView]
    alerts: list[AlertView]
    triggers: list[TriggerView]
    rules: list[SlaRuleView]
    performance: dict[str, list[tuple[str, float]]]
    watch: float  # PSI bands, from the monitoring service
    act: float
    primary: str = "roc_auc"  # the metric the project is judged on

    def key_metrics(self) -> list[str]:
        """The metrics worth a trend line: those an SLA rule watches, then the project's own
        metric, then the rest in name order."""
        watched = [r.metric for r in self.rules]
        return sorted(self.performance, key=lambda m: (m not in watched, m != self.primary, m))

    @property
    def open_triggers(self) -> list[TriggerView]:
        return [t for t in self.triggers if t.status == "open"]


def _num(value: float | None, spec: str = "{:.3f}") -> str:
    return "—" if value is None else spec.format(value)


def _pvalue(value: float | None) -> str:
    """Four decimals, or "<1e-4": at production volumes most p-values underflow any width."""
    if value is None:
        return "—"
    return "<1e-4" if value < 1e-4 else f"{value:.4f}"


def detail_cells(row: DriftResultView, watch: float, act: float) -> tuple[Text, ...]:
    psi_style = BAND_STYLES[band(row.psi, watch, act)] if row.psi is not None else "dim"
    return (
        Text(row_label(row), style="bold" if row.subject == "feature" else "bold italic"),
        Text(KIND_SHORT.get(row.kind, row.kind), style="dim"),
        Text(_num(row.psi), style=psi_style), Text(_num(row.ks)), Text(_pvalue(row.ks_pvalue)),
        Text(_num(row.chi2, "{:.3g}")), Text(_pvalue(row.chi2_pvalue)), Text(_num(row.js)),
        Text(_num(row.wasserstein)),
        Text(f"{DRIFTED_MARK} drifted", style="bold red") if row.drifted else Text("stable", style="green"),
        Text(row.note or "", style="dim"),
    )


def batch_heading(batch: BatchView) -> Text:
    out = Text()
    out.append(f"Batch {batch.label}", style="bold")
    out.append(f" · {batch.source} · {batch.n_rows:,} rows · {batch.n_labelled:,} labelled · "
               f"model v{batch.model_version if batch.model_version is not None else '?'} · "
               f"{batch.created_at:%Y-%m-%d %H:%M}", style="dim")
    if not batch.analysed:
        out.append(" · not analysed yet", style="yellow")
    elif batch.drifted_features:
        out.append(f" · {len(batch.drifted_features)} feature(s) drifted", style="bold red")
    else:
        out.append(" · no feature drifted", style="green")
    if batch.metrics:
        out.append("\n" + "  ".join(f"{k} {v:.4g}" for k, v in sorted(batch.metrics.items())))
    if batch.analysed and batch.reference:
        out.append("\n" + batch.reference, style="dim")
    return out


def sla_text(batches: Sequence[BatchView], rules: Sequence[SlaRuleView]) -> Text:
    """Each active rule on the latest analysed batch; an unmeasured one also shows where it
    was last measured, so "no labels yet" does not hide a breach a month ago."""
    out = Text()
    latest = next((b for b in reversed(batches) if b.analysed), None)
    out.append("SLA" + (f" · batch {latest.label}" if latest else ""), style="bold underline")
    out.append("\n")
    if not rules:
        out.append("  no SLA rules: s adds one (`mlwb monitor sla`)\n", style="dim")
        return out
    if latest is None:
        out.append("  no analysed batch yet\n", style="dim")
        return out
    width = max(len(rule.describe()) for rule in rules) + 1
    for rule in rules:
        key = rule.describe()
        outcome = latest.sla.get(key)
        passed = outcome.get("passed") if outcome else None
        breach = SEVERITY_STYLE.get(rule.severity, "red")
        out.append(" ✔ " if passed is True else " ✘ " if passed is False else " — ",
                   style="green" if passed is True else breach if passed is False else "dim")
        out.append(f"{key:<{width}}", style="bold" if passed is False else "")
        if outcome is None:
            out.append("not checked on this batch", style="dim")
        elif passed is None:
            out.append("no value", style="dim")
            earlier = next(((b, b.sla[key]) for b in reversed(batches)
                            if key in b.sla and b.sla[key].get("passed") is not None), None)
            if earlier is not None:
                b, o = earlier
                out.append(f"; {b.label} {'✔' if o['passed'] else '✘'} {o['value']:.4g}",
                           style="green" if o["passed"] else breach)
        else:
            out.append(f"{outcome['value']:.4g}", style="" if passed else breach)
            if passed is False:
                out.append(f" {rule.severity}", style=breach)
        out.append("\n")
    return out


def trends_text(snapshot: MonitoringSnapshot) -> Text:
    """Max PSI per batch (bars in their band's colour) and each metric over batches (sparklines)."""
    out = Text()
    out.append("Max feature PSI per batch\n", style="bold underline")
    batches = snapshot.batches
    if not batches:
        out.append("  no batches yet: i imports one (`mlwb monitor import`, or `collect`)\n", style="dim")
    else:
        values = [b.max_psi for b in batches]
        styles = [BAND_COLOURS[band(v, snapshot.watch, snapshot.act)] if v is not None else "dim" for v in values]
        marks = [f"{DRIFTED_MARK} {len(b.drifted_features)}" if b.drifted_features else "" for b in batches]
        out.append_text(coloured_bar_chart([f"  {b.label}" for b in batches], values, styles,
                                           at_least=snapshot.act * 1.2, width=TREND_BAR_WIDTH, marks=marks))
        out.append("\n")
    out.append_text(sla_text(batches, snapshot.rules))
    out.append("Performance on labelled rows\n", style="bold underline")
    if not snapshot.performance:
        out.append("  no labels yet: l attaches them (`mlwb monitor labels`)\n", style="dim")
    shown = snapshot.key_metrics()[:TREND_METRICS]
    width = max((len(name) for name in shown), default=0)
    order = [b.label for b in batches]
    for name in shown:
        by_label = dict(snapshot.performance[name])
        series = [by_label.get(label) for label in order if label in by_label]
        better = metric_direction(name)  # None (base rate, row counts): no good direction, uncoloured
        out.append(f"  {name:<{width}} ", style="dim")
        out.append_text(trend(series, higher_is_better=better))
        out.append("\n")
    hidden = len(snapshot.performance) - len(shown)
    if hidden > 0:
        out.append(f"  +{hidden} more in the batch line below\n", style="dim")
    return out


def alert_cells(alert: AlertView, rules: dict[int, SlaRuleView]) -> tuple[Text, ...]:
    if alert.rule.startswith("sla:") and alert.rule[4:].isdigit() and int(alert.rule[4:]) in rules:
        rule = f"SLA {rules[int(alert.rule[4:])].describe()}"
    elif alert.rule == "drift" and alert.feature:
        rule = f"drift · {alert.feature}"
    else:
        rule = alert.rule
    return (Text(str(alert.id), style="dim"), Text(alert.batch or "—"),
            Text(alert.severity, style=SEVERITY_STYLE.get(alert.severity, "")), Text(rule),
            Text(_num(alert.value)), Text(alert.status, style="bold" if alert.status == "open" else "dim"),
            Text(f"#{alert.trigger_id}" if alert.trigger_id else "—", style="" if alert.trigger_id else "dim"),
            Text(alert.message))


def lineage(trigger: TriggerView) -> Text:
    """trigger → training data → job → run: the feedback loop, as far as it has got."""
    steps = [f"data v{trigger.dataset_version_id}" if trigger.dataset_version_id else None,
             f"job {trigger.job_id}" if trigger.job_id else None]
    out = Text(" → ".join(s for s in steps if s))
    if trigger.run_id:
        out.append((" → " if len(out) else "") + f"run {trigger.run_number}", style="bold green")
    elif not len(out):
        out.append("not retrained yet", style="dim")
    return out


def trigger_cells(trigger: TriggerView) -> tuple[Text, ...]:
    cause = " · ".join(p for p in (trigger.batch,
                                   trigger.alert_id and f"alert #{trigger.alert_id}") if p) or "—"
    return (Text(str(trigger.id), style="dim"), Text(trigger.kind),
            Text(trigger.status, style=TRIGGER_STATUS_STYLE.get(trigger.status, "")), Text(cause),
            lineage(trigger), Text(trigger.requested_by), Text(trigger.reason))


class MonitoringScreen(SnapshotScreen[MonitoringSnapshot]):
    """Monitoring of one project: drift heat table, batch detail, trends, alerts, triggers."""

    BINDINGS = [
        Binding("n", "retrain", "Retrain now", id="monitoring.retrain",
                tooltip="Retrain in a worker process: answer the open trigger, or on demand with a reason"),
        Binding("left_square_bracket", "batch(-1)", "Earlier batch", show=False, id="monitoring.earlier_batch",
                tooltip="Show the batch before the selected one (← / → do it in the heat table)"),
        Binding("right_square_bracket", "batch(1)", "Later batch", show=False, id="monitoring.later_batch",
                tooltip="Show the batch after the selected one"),
        Binding("t", "focus_triggers", "Triggers", id="monitoring.triggers",
                tooltip="Go to the retraining triggers (n then answers the highlighted one)"),
        Binding("v", "resolve", "Resolve alert", id="monitoring.resolve_alert",
                tooltip="Close the highlighted open alert with a note on how it was handled"),
        # Issue 13: files in (batches, labels) and the monitoring policy (SLA, thresholds, schedule);
        # the dialogs are screens/modals/import_dialog.py and monitoring_settings.py.
        Binding("i", "import_batch", "Import batch", id="monitoring.import_batch",
                tooltip="Import a file of production inputs as a batch: pick it, label it, see the preview; "
                        "drift is analysed in a worker process"),
        Binding("l", "labels", "Labels", id="monitoring.labels",
                tooltip="Attach delayed labels to the selected batch (id and label columns): performance, "
                        "label shift and SLA checks run as a job"),
        Binding("c", "collect", "Collect from log", id="monitoring.collect",
                tooltip="Collect the requests production answered since the last such batch (the prediction log "
                        "`mlwb serve` writes) into a new batch"),
        Binding("L", "label_log", "Label logged requests", show=False, id="monitoring.label_log",
                tooltip="Attach delayed labels to logged requests by request id, from a file of ids and outcomes"),
        Binding("a", "analyse", "Analyse", show=False, id="monitoring.analyse",
                tooltip="Analyse the selected batch's drift in a worker process (if it has not been)"),
        Binding("s", "sla_rules", "SLA rules", show=False, id="monitoring.sla_rules",
                tooltip="List, add and remove the SLA rules every batch is checked against"),
        Binding("d", "thresholds", "Drift thresholds", show=False, id="monitoring.thresholds",
                tooltip="Set the effect size (PSI, KS, JS, normed Wasserstein) at which a feature, or every feature, counts as drifted"),
        Binding("p", "schedule", "Retrain schedule", show=False, id="monitoring.schedule",
                tooltip="Retrain every N days (`mlwb retrain --scheduled` runs it when due), or off"),
        Binding("f", "revise_framing", "Revise framing", id="monitoring.revise_framing",
                tooltip="Send the project back to stage 2 because of the highlighted alert (production keeps serving)"),
        Binding("j", "jobs", "Jobs", id="monitoring.jobs", tooltip="Background jobs; cancel one there"),
        Binding("r", "reload", "Refresh", id="monitoring.refresh",
                tooltip="Read the batches, alerts and triggers again"),
        Binding("escape", "app.pop_screen", "Back", id="monitoring.back", tooltip="Back to the project"),
    ]

    def __init__(self, slug: str, *, then: str | None = None) -> None:
        """``then`` names an action to run once the first snapshot is shown (the command palette's
        "import a monitoring batch" and the settings open this screen with it)."""
        super().__init__()
        self.slug = slug
        self.snapshot: MonitoringSnapshot | None = None
        self.detail_batch: int | None = None
        self.then = then
        self.last_collected: BatchView | None = None
        self.last_labelled: int | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="monitoring"):
            yield Static(f"[b]{self.slug}[/b] · monitoring  loading…", id="monitor-title")
            with Horizontal(id="monitor-top"):
                with Vertical(id="monitor-heat"):
                    yield Label("PSI by feature × batch · ← → or [ ] picks a batch", classes="evidence-title")
                    yield DriftHeat(id="drift-heat")
                with VerticalScroll(id="monitor-trends"):
                    yield Static("", id="monitor-trends-body")
            yield Static("", id="batch-heading")
            yield row_table("batch-detail", DETAIL_COLUMNS)
            with Vertical(id="monitor-bottom"):
                with Vertical(id="monitor-alerts"):
                    yield Label("Alerts", classes="evidence-title")
                    yield row_table("alert-table", ALERT_COLUMNS)
                with Vertical(id="monitor-triggers"):
                    yield Label("Retraining triggers → runs", classes="evidence-title")
                    yield row_table("trigger-table", TRIGGER_COLUMNS)

    def on_mount(self) -> None:
        self.heat.table.focus()

    @property
    def heat(self) -> DriftHeat:
        return self.query_one("#drift-heat", DriftHeat)

    # --- loading -------------------------------------------------------------------------

    def load(self, wb: Workbench) -> MonitoringSnapshot:
        from app.ml.drift_bands import PSI_ALERT_THRESHOLD, PSI_WATCH
        from app.services import (
            monitoring_alerts, monitoring_analysis, monitoring_batches, monitoring_policy, projects, retraining,
        )

        project = projects.project_summary(wb, self.slug)
        return MonitoringSnapshot(
            project=project, batches=monitoring_batches.list_batches(wb, self.slug),
            alerts=monitoring_alerts.list_alerts(wb, self.slug), triggers=retraining.list_triggers(wb, self.slug),
            rules=monitoring_policy.sla_rules(wb, self.slug),
            performance=monitoring_analysis.performance_over_time(wb, self.slug),
            watch=PSI_WATCH, act=PSI_ALERT_THRESHOLD,
            primary=project_metric(project.problem_type),
        )

    def show(self, snapshot: MonitoringSnapshot) -> None:
        first = self.snapshot is None
        self.snapshot = snapshot
        if first:
            self.refresh_bindings()  # "Retrain now" applies once there is something to show
        heat = self.heat
        heat.set_batches(snapshot.batches, watch=snapshot.watch, act=snapshot.act)
        self.query_one("#monitor-trends-body", Static).update(trends_text(snapshot))
        rules = {r.id: r for r in snapshot.rules}
        alerts = self.query_one("#alert-table", DataTable)
        alerts.clear()
        for a in reversed(snapshot.alerts):
            alerts.add_row(*alert_cells(a, rules), key=str(a.id))
        triggers = self.query_one("#trigger-table", DataTable)
        keep = self.highlighted_trigger.id if self.highlighted_trigger else None
        triggers.clear()
        for t in reversed(snapshot.triggers):
            triggers.add_row(*trigger_cells(t), key=str(t.id))
        ids = [t.id for t in reversed(snapshot.triggers)]
        if keep in ids:
            triggers.move_cursor(row=ids.index(keep))
        open_alerts = sum(1 for a in snapshot.alerts if a.status == "open")
        critical = sum(1 for a in snapshot.alerts if a.status == "open" and a.severity == "critical")
        versions = sorted({b.model_version for b in snapshot.batches if b.model_version is not None})
        self.query_one("#monitor-title", Static).update(
            f"[b]{self.slug}[/b] · monitoring · {len(snapshot.batches)} batch(es) · "
            f"model {', '.join(f'v{v}' for v in versions) or '—'} · "
            f"[{'bold red' if critical else 'yellow' if open_alerts else 'green'}]{open_alerts} open alert(s)"
            f"[/] · {len(snapshot.open_triggers)} open trigger(s)\n"
            f"[dim]{snapshot.project.name} · PSI bands {snapshot.watch:g} / {snapshot.act:g} · "
            f"{len(snapshot.rules)} SLA rule(s) · stage {snapshot.project.current_stage} of 6[/dim]"
        )
        selected = heat.selected
        self._show_batch(selected)
        if self.then:
            action, self.then = self.then, None
            self.call_after_refresh(self.run_action, action)

    @on(DriftHeat.BatchHighlighted)
    def _batch_highlighted(self, event: DriftHeat.BatchHighlighted) -> None:
        self._show_batch(event.batch)

    def _show_batch(self, batch: BatchView | None) -> None:
        heading = self.query_one("#batch-heading", Static)
        table = self.query_one("#batch-detail", DataTable)
        table.clear()
        if batch is None or self.snapshot is None:
            self.detail_batch = None
            heading.update(Text("No monitoring batches yet: press i to import a file of production inputs "
                                "(`mlwb monitor import`), or collect the served requests with `mlwb monitor collect`.", style="dim"))
            return
        self.detail_batch = batch.id
        heading.update(batch_heading(batch))
        for row in sorted(batch.drift, key=lambda r: ({"feature": 0, "prediction": 1, "label": 2}.get(r.subject, 3),
                                                      -(r.psi or 0.0))):
            table.add_row(*detail_cells(row, self.snapshot.watch, self.snapshot.act))

    @property
    def highlighted_trigger(self) -> TriggerView | None:
        if self.snapshot is None or not self.snapshot.triggers:
            return None
        key = cursor_key(self.query_one("#trigger-table", DataTable))
        return next((t for t in self.snapshot.triggers if str(t.id) == key), None)

    def trigger_to_answer(self) -> TriggerView | None:
        """The trigger "Retrain now" offers to answer: the highlighted one when the triggers table
        has focus (None if that one is closed), else the newest open trigger."""
        if self.snapshot is None:
            return None
        if self.focused is self.query_one("#trigger-table", DataTable):
            trigger = self.highlighted_trigger
            return trigger if trigger is not None and trigger.status == "open" else None
        return self.snapshot.open_triggers[-1] if self.snapshot.open_triggers else None

    # --- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("retrain", "sla_rules", "thresholds", "schedule"):
            return not self.is_mounted or self.snapshot is not None
        if action in ("labels", "analyse"):  # they act on a batch
            return not self.is_mounted or (self.snapshot is not None and bool(self.snapshot.batches))
        return True

    def action_batch(self, step: int) -> None:
        table = self.heat.table
        if table.columns:
            table.move_cursor(column=max(0, min(len(table.columns) - 1, table.cursor_column + step)))

    def action_focus_triggers(self) -> None:
        self.query_one("#trigger-table", DataTable).focus()

    def action_jobs(self) -> None:
        from screens.jobs import JobsScreen

        self.app.push_screen(JobsScreen())

    def highlighted_alert(self) -> Any:
        """The open alert under the alerts table's cursor, if any."""
        if self.snapshot is None:
            return None
        key = cursor_key(self.query_one("#alert-table", DataTable))
        return next((a for a in self.snapshot.alerts if str(a.id) == key and a.status == "open"), None)

    def action_resolve(self) -> None:
        from screens.modals.review_dialog import ReasonDialog

        alert = self.highlighted_alert()
        if alert is None:
            self.notify("Highlight an open alert in the alerts table first.", severity="warning")
            return

        def confirmed(note: str | None) -> None:
            if note:
                self._resolve(alert.id, note)

        self.app.push_screen(ReasonDialog(f"Resolve alert #{alert.id} ({alert.severity})", Text(alert.message),
                                          confirm="Resolve", required=True,
                                          placeholder="how it was handled, or why nothing needs doing",
                                          dialog_id="resolve-dialog"), confirmed)

    @work(thread=True, exit_on_error=False, group="monitoring-write")
    def _resolve(self, alert_id: int, note: str) -> None:
        from app.services import monitoring_alerts

        monitoring_alerts.resolve_alert(self.wb, self.slug, alert_id, note=note)
        self.notify(f"Alert #{alert_id} resolved.", title="Alert resolved")
        self.announce_change()

    def action_retrain(self) -> None:
        from screens.modals.retrain_dialog import RetrainDialog

        if self.snapshot is None:
            return
        trigger = self.trigger_to_answer()

        def chosen(values: dict[str, Any] | None) -> None:
            if values:
                self.host.retrain_now(self.slug, values["trigger_id"], values["reason"])
                answered = f"answering trigger #{values['trigger_id']}" if values["trigger_id"] else "on demand"
                self.notify(f"Retraining {self.slug} ({answered}) in a worker process; progress is at the bottom, "
                            "j cancels.", title="Job queued")

        self.app.push_screen(RetrainDialog(self.slug, trigger), chosen)

    # --- issue 13: importing batches and labels, the monitoring policy ------------------------

    def _changed(self, changed: Any) -> None:
        """A dialog's result: reload every open screen when it recorded something."""
        if changed:
            self.announce_change(everywhere=True)

    def action_import_batch(self) -> None:
        from screens.modals.import_dialog import BatchImportDialog

        def imported(batch: BatchView | None) -> None:
            if batch is None:
                return
            drift = (f"{len(batch.drifted_features)} feature(s) drifted" if batch.drifted_features else
                     "no feature drifted") if batch.analysed else "not analysed yet: a analyses it"
            self.notify(f"Batch {batch.label}: {batch.n_rows:,} rows for model v{batch.model_version}; {drift}.",
                        title="Batch imported")
            self._changed(True)

        self.app.push_screen(BatchImportDialog(self.slug), imported)

    def _selected_batch(self) -> BatchView | None:
        if self.snapshot is None or not self.snapshot.batches:
            return None
        return self.heat.selected or self.snapshot.batches[-1]

    def action_labels(self) -> None:
        from screens.modals.import_dialog import LabelsImportDialog

        if self.snapshot is None or not self.snapshot.batches:
            self.notify("Import a batch first (i): labels are attached to a batch.", severity="warning")
            return
        selected = self._selected_batch()
        if selected is not None and selected.n_labelled >= selected.n_rows:  # offer the newest one still waiting
            selected = next((b for b in reversed(self.snapshot.batches) if b.n_labelled < b.n_rows), selected)

        def attached(batch: BatchView | None) -> None:
            if batch is not None:
                shown = "  ".join(f"{k} {v:.4g}" for k, v in sorted(batch.metrics.items()))[:100]
                self.notify(f"Batch {batch.label}: {batch.n_labelled:,} labelled rows. {shown}",
                            title="Labels attached")
                self._changed(True)

        self.app.push_screen(LabelsImportDialog(self.slug, [b.label for b in self.snapshot.batches],
                                                batch=selected.label if selected else None), attached)

    def action_analyse(self) -> None:
        batch = self._selected_batch()
        if batch is None:
            return
        if batch.analysed:
            self.notify(f"Batch {batch.label} is already analysed.", severity="warning")
            return
        self.notify(f"Analysing batch {batch.label} in a worker process; progress is at the bottom.",
                    title="Job queued")
        self._analyse(batch.label)

    @work(thread=True, exit_on_error=False, group="monitoring-write")
    def _analyse(self, label: str) -> None:
        from app.services import monitoring_analysis

        seen: list[int] = []

        def on_progress(job_id: int, fraction: float, message: str) -> None:
            if job_id not in seen:
                seen.append(job_id)
            self.host.progress.update(job_id, f"drift of {label} ({self.slug})", fraction, message)

        try:
            batch = monitoring_analysis.analyse_batch(self.wb, self.runner, self.slug, label, on_progress=on_progress)
        finally:
            for job_id in seen:
                self.host.progress.finish(job_id)
        self.notify(f"Batch {batch.label}: " + (f"{len(batch.drifted_features)} feature(s) drifted"
                                               if batch.drifted_features else "no feature drifted") + ".",
                    title="Batch analysed")
        self.announce_change(everywhere=True)

    # --- the prediction log: collect a batch, label logged requests ----------------------------

    def action_collect(self) -> None:
        from screens.modals.prediction_log_dialogs import CollectBatchDialog

        wb = self.wb
        taken = {b.label for b in self.snapshot.batches} if self.snapshot else set()
        dialog = CollectBatchDialog(self.slug)
        if dialog.label in taken:
            dialog.label = next(f"{dialog.label}-{n}" for n in range(2, 1000) if f"{dialog.label}-{n}" not in taken)

        def collect(values: dict[str, Any]) -> tuple[BatchView, bool]:
            from app.services.monitoring_batches import batch_from_predictions

            return batch_from_predictions(wb, self.slug, label=values["label"]), values["analyse"]

        def collected(result: tuple[BatchView, bool] | None) -> None:
            if result is None:
                return
            batch, analyse = result
            self.last_collected = batch
            then = "its drift is analysed now (a job)" if analyse else "a analyses its drift"
            self.notify(f"Batch {batch.label}: {batch.n_rows:,} logged request(s) for model v{batch.model_version}, "
                        f"{batch.n_labelled:,} already labelled; {then}.", title="Batch collected")
            self._changed(True)
            if analyse:
                self._analyse(batch.label)

        self.app.push_screen(dialog.saving_with(collect), collected)

    def action_label_log(self) -> None:
        from screens.modals.prediction_log_dialogs import LogLabelsDialog

        def labelled(count: int | None) -> None:
            if count:
                self.last_labelled = count
                self.notify(f"Labelled {count:,} logged request(s); batches collected from the log after this carry "
                            "the labels, and the release analyses read them.", title="Labels attached")
                self._changed(True)

        self.app.push_screen(LogLabelsDialog(self.slug), labelled)

    def action_sla_rules(self) -> None:
        from screens.modals.monitoring_settings import SlaRulesDialog

        if self.snapshot is not None:
            self.app.push_screen(SlaRulesDialog(self.slug, self.snapshot.rules), self._changed)

    def action_thresholds(self) -> None:
        from screens.modals.monitoring_settings import ThresholdDialog

        if self.snapshot is None:
            return
        features = sorted({r.feature for b in self.snapshot.batches for r in b.features})
        self.app.push_screen(ThresholdDialog(self.slug, features), self._changed)

    def action_schedule(self) -> None:
        from screens.modals.monitoring_settings import ScheduleDialog

        self.app.push_screen(ScheduleDialog(self.slug), self._changed)

    def action_revise_framing(self) -> None:
        """The other answer to an alert: when retraining cannot fix what it shows (a wrong target,
        a proxy that drifted in meaning), send the project back to stage 2 with the alert linked
        (``monitoring_alerts.revise_framing``); the production model keeps serving."""
        from screens.modals.review_dialog import ReasonDialog

        key = cursor_key(self.query_one("#alert-table", DataTable)) if self.snapshot is not None else None
        alert = next((a for a in self.snapshot.alerts if str(a.id) == key), None) if self.snapshot else None
        if alert is None or alert.status == "framing_revision":
            self.notify("Highlight an alert in the alerts table first (one that has not sent the project back yet).",
                        severity="warning")
            return

        def write(reason: str) -> None:
            from app.services import monitoring_alerts

            revision = monitoring_alerts.revise_framing(self.wb, self.slug, alert.id, reason=reason)
            serving = (f"v{revision.production_version} keeps serving" if revision.production_version
                       else "no production model")
            self.notify(f"{self.slug} is back at stage {revision.to_stage} (problem framing); {serving}. Revise the "
                        "framing, then pass each gate again.", title="Framing revision")
            self.announce_change(everywhere=True)  # the project's stage changed

        def confirmed(reason: str | None) -> None:
            if reason:
                self.run_worker(lambda: write(reason), thread=True, exit_on_error=False, group="monitoring-write")

        self.app.push_screen(ReasonDialog(
            f"Revise the framing because of alert #{alert.id}", Text(
                f"{alert.message}\n\nThe project returns to stage 2 (problem framing) and every gate from there is "
                "passed again; the production model keeps serving and monitoring goes on."),
            confirm="Back to stage 2", required=True, placeholder="what the alert showed that retraining cannot fix",
            dialog_id="revise-framing-dialog"), confirmed)
