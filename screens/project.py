"""One project: its six lifecycle stages as tabs, each with deliverables, gate and evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static, TabbedContent, TabPane

from app.lifecycle import STAGES
from screens.base import SnapshotScreen
from screens.widgets.evidence import Deliverables, EvidenceTable, GateChecklist

if TYPE_CHECKING:
    from pathlib import Path

    from app.services.deliverables import Confirmation
    from app.services.project_file import ApplyOutcome
    from app.services.workbench import Workbench
    from app.services.datasets import DatasetVersionView
    from reports.data import ProjectRecords
    from reports.stages import StageChapter

EDITABLE_STAGES = (1, 2)
FULL_SCREEN_HINTS = {
    5: "R opens the release screen: versions, promotion gate, shadow / canary / A-B evidence, reviews, rollback.",
    6: "O opens the monitoring screen: drift by feature and batch, trends, alerts, SLA, retraining triggers.",
}


@dataclass(frozen=True)
class ProjectSnapshot:
    """The project's records (as the documents read them) and its six stages built from them."""

    records: ProjectRecords
    chapters: tuple[StageChapter, ...]
    #: The feature guesses waiting for a person's confirmation (``deliverables.framing_proposal``).
    proposal: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> list[dict[str, Any]]:
        return list(self.proposal.get("features", []))

    @property
    def training_datasets(self) -> list[DatasetVersionView]:
        """The datasets features can be proposed from, newest first."""
        return sorted((d for d in self.records.datasets if d.role == "training"), key=lambda d: d.id, reverse=True)


class ProjectScreen(SnapshotScreen[ProjectSnapshot]):
    BINDINGS = [
        *(Binding(str(s.number), f"show_stage({s.number})", f"{s.title}", show=False, id=f"project.stage_{s.number}")
          for s in STAGES),
        Binding("e", "edit", "Edit", id="project.edit", tooltip="Edit this stage's deliverable"),
        Binding("t", "train", "Train", id="project.train", tooltip="Train a model in a worker process"),
        Binding("g", "advance", "Advance gate", id="project.advance",
                tooltip="Move the project to its next stage if the gate passes"),
        # Opens the reports screen (compliance report highlighted: `b` there builds it) rather than
        # exporting at once: there are several documents and scopes to choose from, and the build's
        # progress, cancel and the list of reports already built live there.
        Binding("x", "export", "Export PDF", id="project.export",
                tooltip="Reports: choose a document (compliance, model card, drift…) and its scope, build the PDF"),
        Binding("D", "data", "Data", id="project.data", tooltip="Datasets, findings, splits and leakage"),
        Binding("M", "runs", "Runs", id="project.runs", tooltip="All runs: details, compare, train, test set"),
        # Not in the footer (it is full at 120 columns and the layout snapshot pins it); F1 and the
        # command palette list them, and the stage 5 and 6 tabs name the keys.
        Binding("R", "release", "Release", show=False, id="project.release",
                tooltip="Stage 5 at full size: versions, gate, approvals, promotion, rollback"),
        Binding("O", "monitoring", "Monitoring", show=False, id="project.monitoring",
                tooltip="Stage 6 at full size: drift by batch, alerts, SLA, retraining triggers"),
        # Workspace-level settings of the project, changed rarely and on the record: F1 and the
        # palette list them (the footer is full).
        Binding("m", "maturity", "Maturity profile", show=False, id="project.maturity",
                tooltip="Change the maturity profile (startup / growth / enterprise), with a reason"),
        Binding("i", "inventory", "Risk tier & owner", show=False, id="project.inventory",
                tooltip="Set the model inventory's risk tier and owner, with a reason"),
        # Stage 2 from a dataset and from a file (the CLI's `frame --infer-from` / `--confirm` and
        # `project apply`): on the stage 2 tab, named there; F1 and the palette list them.
        Binding("f", "propose_features", "Propose features", show=False, id="project.propose_features",
                tooltip="Guess the feature spec (types, serving-time availability, personal data) from a dataset"),
        Binding("c", "confirm_proposals", "Confirm proposals", show=False, id="project.confirm_proposals",
                tooltip="Read the proposed features and confirm the right ones into the framing"),
        Binding("A", "apply_file", "Apply project file", show=False, id="project.apply_file",
                tooltip="Choose a project file (TOML), preview the fields it changes, apply them (audited)"),
        Binding("a", "audit", "Audit", id="project.audit"),
        Binding("j", "jobs", "Jobs", id="project.jobs"),
        Binding("r", "reload", "Refresh", id="project.refresh"),
        Binding("escape", "app.pop_screen", "Back", id="project.back"),
    ]

    def __init__(self, slug: str, *, stage: int = 0) -> None:
        super().__init__()
        self.slug = slug
        self.initial_stage = stage
        self.snapshot: ProjectSnapshot | None = None
        self._binding_state: tuple[bool, ...] | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(f"[b]{self.slug}[/b]  loading…", id="project-title")
        with TabbedContent(id="stages"):
            for s in STAGES:
                with TabPane(f"{s.number} {s.title}", id=f"stage-{s.number}"):
                    yield VerticalScroll(Static("Loading…"), id=f"stage-body-{s.number}", classes="stage-body")

    def on_mount(self) -> None:
        if self.initial_stage:
            self.action_show_stage(self.initial_stage)

    @property
    def current_tab(self) -> int:
        active = self.query_one("#stages", TabbedContent).active or "stage-1"
        return int(active.rsplit("-", 1)[1])

    def load(self, wb: Workbench) -> ProjectSnapshot:
        from app.services.reporting import collect_project
        from reports.stages import stage_chapters

        from app.services.deliverables import framing_proposal

        records = collect_project(wb, self.slug)
        return ProjectSnapshot(records, stage_chapters(records), framing_proposal(wb, self.slug))

    async def show(self, snapshot: ProjectSnapshot) -> None:
        self.snapshot = snapshot
        summary, current = snapshot.records.summary, snapshot.records.summary.current_stage
        stage = STAGES[current - 1]
        self.query_one("#project-title", Static).update(
            f"[b]{summary.name}[/b] ({summary.slug}) · at stage [b]{stage.number} {stage.title}[/b]\n"
            f"[dim]{summary.problem_type} · {summary.maturity} profile · "
            f"audit head #{snapshot.records.audit_head_seq}[/dim]"
        )
        for chapter in snapshot.chapters:
            body = self.query_one(f"#stage-body-{chapter.number}", VerticalScroll)
            await body.remove_children()
            widgets = [
                Static(f"Risk this stage guards against: [i]{chapter.risk}[/i]"
                       + ("   [reverse] current stage [/reverse]" if chapter.number == current else ""),
                       classes="risk"),
                GateChecklist(chapter.gate.passed, chapter.gate.checks),
                Deliverables(chapter.deliverables),
                *(EvidenceTable(t) for t in chapter.evidence),
            ]
            if chapter.number in FULL_SCREEN_HINTS:
                widgets.insert(1, Static(FULL_SCREEN_HINTS[chapter.number], classes="note"))
            if chapter.number == 2:
                widgets.insert(1, Static(self._framing_hint(snapshot), classes="note", id="framing-hint"))
            await body.mount_all(widgets)
        self._sync_bindings()

    @staticmethod
    def _framing_hint(snapshot: ProjectSnapshot) -> str:
        """Stage 2's keys, and the proposals waiting for a person, where the framing is read."""
        hint = "e edits the framing · f proposes features from a dataset · A applies a project file (TOML)"
        if snapshot.pending:
            hint += (f"\n[b]{len(snapshot.pending)} proposed feature(s) from dataset "
                     f"{snapshot.proposal.get('dataset_version')} wait for you: c reads and confirms them[/b]")
        return hint

    def action_show_stage(self, number: int) -> None:
        self.query_one("#stages", TabbedContent).active = f"stage-{number}"
        self._sync_bindings()

    def on_tabbed_content_tab_activated(self) -> None:
        self._sync_bindings()
        # Focus moves to the new tab's gate table, and scrolling it into view hid what is above
        # it (the stage's risk and its keys): the tab opens at its top instead.
        body = self.query_one(f"#stage-body-{self.current_tab}", VerticalScroll)
        self.call_after_refresh(body.scroll_home, animate=False, immediate=True)

    def _sync_bindings(self) -> None:
        """Refresh the footer only when the actions that apply change (it costs ~80 ms to redo)."""
        state = tuple(bool(self.check_action(a, ()))
                      for a in ("edit", "train", "advance", "propose_features", "confirm_proposals", "apply_file"))
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.is_mounted:
            return True
        if action == "edit":
            return self.current_tab in EDITABLE_STAGES and self.snapshot is not None
        if action == "train":
            return self.current_tab == 4 and self.snapshot is not None
        if action in ("propose_features", "apply_file"):
            return self.current_tab == 2 and self.snapshot is not None
        if action == "confirm_proposals":
            return self.current_tab == 2 and self.snapshot is not None and bool(self.snapshot.pending)
        if action in ("maturity", "inventory"):
            return self.snapshot is not None
        if action == "advance":
            return self.snapshot is not None and self.snapshot.records.summary.current_stage < len(STAGES)
        return True

    # --- actions -----------------------------------------------------------------------

    def action_edit(self) -> None:
        """Open the stage's form; it saves through the service before closing, so a refusal is
        shown in the form with everything typed still there."""
        if self.snapshot is None:
            return
        if self.current_tab == 1:
            from screens.modals.statement_form import StatementForm

            records = self.snapshot.records
            form = StatementForm(records.statement, records.checklist, records.summary.problem_type)
            self.app.push_screen(form.saving_with(self._save_statement), self._saved)
        elif self.current_tab == 2:
            from screens.modals.framing_form import FramingForm

            form = FramingForm(self.snapshot.records.framing)
            self.app.push_screen(form.saving_with(self._save_framing), self._saved)

    def _save_statement(self, values: dict) -> str:
        """Runs in the form's thread worker: a WorkbenchError keeps the form open."""
        from app.services import deliverables

        revision = deliverables.save_problem_statement(self.wb, self.slug, values["statement"],
                                                       problem_type=values["problem_type"])
        deliverables.save_ml_checklist(self.wb, self.slug, values["checklist"], values.get("notes", ""))
        return f"Problem statement saved (revision {revision})."

    def _save_framing(self, values: dict) -> str:
        from app.services import deliverables

        revision = deliverables.save_framing(self.wb, self.slug, values["fields"], values["features"])
        return f"Framing saved (revision {revision})."

    def _saved(self, message: str | None) -> None:
        if message:
            self.notify(message, title="Saved to the audit trail")
            self.announce_change()

    # --- stage 2 from a dataset's profile: propose, read, confirm ----------------------------

    def action_propose_features(self) -> None:
        """Choose the dataset and target; the proposal is saved (in the form's thread) before the
        form closes, so a refused target stays in the form; then the guesses open for reading."""
        if self.snapshot is None:
            return
        datasets = self.snapshot.training_datasets
        if not datasets:
            self.notify(f"{self.slug} has no training dataset to propose features from: import one on the data "
                        "screen (D, then i).", severity="warning")
            return
        from screens.modals.feature_proposals import ProposeFeaturesDialog

        wb, slug = self.wb, self.slug

        def propose(values: dict[str, Any]) -> dict[str, Any]:
            from app.services.deliverables import propose_features

            return propose_features(wb, slug, values["dataset_id"], target=values["target"] or None)

        def proposed(proposal: dict[str, Any] | None) -> None:
            if proposal is None:
                return
            self.notify(f"{len(proposal['features'])} feature(s) proposed from dataset {proposal['dataset_version']}; "
                        "nothing counts until you confirm it.", title="Proposal recorded")
            self.announce_change()
            self._review_proposals(proposal)

        form = ProposeFeaturesDialog(slug, datasets, str(self.snapshot.records.framing.get("target", "")))
        self.app.push_screen(form.saving_with(propose), proposed)

    def action_confirm_proposals(self) -> None:
        if self.snapshot is None or not self.snapshot.pending:
            return
        self._review_proposals(self.snapshot.proposal)

    def _review_proposals(self, proposal: dict[str, Any]) -> None:
        from screens.modals.feature_proposals import ProposalReviewDialog, dataset_label

        assert self.snapshot is not None
        wb, slug = self.wb, self.slug
        dataset = next((dataset_label(d) for d in self.snapshot.records.datasets
                        if d.id == proposal.get("dataset_version")), "")

        def confirm(names: list[str]) -> Confirmation:
            from app.services.deliverables import confirm_proposals

            return confirm_proposals(wb, slug, names)

        def confirmed(result: Confirmation | None) -> None:
            if result is None:
                return
            kept = f"; kept what the framing already said for {', '.join(result.kept_existing)}" \
                if result.kept_existing else ""
            self.notify(f"Confirmed {len(result.confirmed)} feature(s) into the framing (revision {result.revision})"
                        f"{kept}.", title="Saved to the audit trail")
            self.announce_change()

        dialog = ProposalReviewDialog(slug, proposal, list(self.snapshot.records.framing.get("features", [])),
                                      dataset=dataset)
        self.app.push_screen(dialog.saving_with(confirm), confirmed)

    # --- stage 1-2 documents from a project file --------------------------------------------

    def action_apply_file(self) -> None:
        """The picker's check is the service's dry run (refusals shown beside the path); the
        preview's apply passes the previewed file's SHA-256, so what is applied is what was shown."""
        from screens.modals.file_picker import FilePicker
        from screens.modals.project_file_dialog import ApplyProjectFileDialog

        wb, slug = self.wb, self.slug

        def preview(path: Path) -> ApplyOutcome:
            from app.services.project_file import apply_project_file

            return apply_project_file(wb, path, dry_run=True, project=slug)

        def apply(shown: ApplyOutcome) -> ApplyOutcome:
            from pathlib import Path

            from app.services.project_file import apply_project_file

            return apply_project_file(wb, Path(shown.path), project=slug, expect_sha256=shown.sha256)

        def applied(outcome: ApplyOutcome | None) -> None:
            if outcome is None:
                return
            revisions = ", ".join(f"{k} revision {v}" for k, v in outcome.revisions.items())
            self.notify(f"Applied {len(outcome.changes)} changed field(s) from {outcome.path} ({revisions}).",
                        title="Saved to the audit trail")
            self.announce_change(everywhere=True)

        def previewed(outcome: ApplyOutcome | None) -> None:
            if outcome is not None:
                self.app.push_screen(ApplyProjectFileDialog(outcome).saving_with(apply), applied)

        self.app.push_screen(FilePicker(f"Apply a project file to {slug}", check=preview, suffixes=(".toml",)),
                             previewed)

    def action_maturity(self) -> None:
        """Change the maturity profile; the form saves through the service, so a refusal (no
        reason) stays in the form with what was typed."""
        if self.snapshot is None:
            return
        from screens.modals.project_settings import MaturityForm

        form = MaturityForm(self.slug, self.snapshot.records.summary.maturity)
        self.app.push_screen(form.saving_with(self._save_maturity), self._settings_saved)

    def _save_maturity(self, values: dict) -> str:
        """Runs in the form's thread worker."""
        from app.services.projects import set_maturity

        summary = set_maturity(self.wb, self.slug, values["maturity"], reason=values["reason"])
        return f"{self.slug} now has the {summary.maturity} profile; its gates follow it from the next check."

    def action_inventory(self) -> None:
        if self.snapshot is None:
            return
        from screens.modals.project_settings import InventoryForm

        summary = self.snapshot.records.summary
        form = InventoryForm(self.slug, summary.risk_tier, summary.owner)
        self.app.push_screen(form.saving_with(self._save_inventory), self._settings_saved)

    def _save_inventory(self, values: dict) -> str:
        """Runs in the form's thread worker."""
        from app.services.projects import set_inventory

        summary = set_inventory(self.wb, self.slug, risk_tier=values["risk_tier"], owner=values["owner"],
                                reason=values["reason"])
        return f"{self.slug}: {summary.risk_tier} risk tier, owner {summary.owner or 'not named'}."

    def _settings_saved(self, message: str | None) -> None:
        """The dashboard's inventory and the gates read these settings: every open screen reloads."""
        if message:
            self.notify(message, title="Saved to the audit trail")
            self.announce_change(everywhere=True)

    def action_train(self) -> None:
        from screens.modals.choose_model import ChooseModel

        def chosen(kind: str | None) -> None:
            if kind:
                self.host.train_model(self.slug, kind)
                self.app.notify(f"Training {kind} in a worker process; the screen stays usable.", title="Job queued")

        self.app.push_screen(ChooseModel(), chosen)

    @work(thread=True, exit_on_error=False, group="project-write")
    def action_advance(self) -> None:
        from app.services.gates import advance_stage

        stage = advance_stage(self.wb, self.slug)
        self.notify(f"{self.slug} moved to stage {stage}.", title="Gate passed")
        self.announce_change(everywhere=True)

    def action_export(self) -> None:
        from screens.reports import ReportsScreen

        self.app.push_screen(ReportsScreen(self.slug))

    def action_data(self) -> None:
        from screens.data import DataScreen

        self.app.push_screen(DataScreen(self.slug))

    def action_runs(self) -> None:
        from screens.runs import RunsScreen

        self.app.push_screen(RunsScreen(self.slug))

    def action_release(self) -> None:
        from screens.release import ReleaseScreen

        self.app.push_screen(ReleaseScreen(self.slug))

    def action_monitoring(self) -> None:
        from screens.monitoring import MonitoringScreen

        self.app.push_screen(MonitoringScreen(self.slug))

    def action_audit(self) -> None:
        from screens.audit import AuditScreen

        self.app.push_screen(AuditScreen(project=self.slug))

    def action_jobs(self) -> None:
        from screens.jobs import JobsScreen

        self.app.push_screen(JobsScreen())
