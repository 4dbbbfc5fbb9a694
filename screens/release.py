"""Stage 5 at full size: the registry's versions, the promotion gate of the highlighted one,
its release analyses and reviews, and the history of every stage and alias change.

What a validator needs before letting a version into production, in one place: does the gate
pass (and which checks were waived, by whom and why), what did the shadow, canary and A/B
analyses find, who reviewed it. Every decision — approve, reject, ask for review, promote,
roll back, make challenger — is a service call in a worker thread; the four-eyes rule and the
gate are the services' to enforce, and a refusal comes back as an error notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, Static

from screens.base import SnapshotScreen
from screens.widgets.tables import cursor_key, row_table

if TYPE_CHECKING:
    from pathlib import Path

    from app.services.evidence_bundle import ExportedBundle
    from app.services.projects import ProjectSummary
    from app.services.promotion import PromotionGate, TransitionView, WaiverView
    from app.services.registry import ModelCardView, ModelVersionView, ReviewRequestView
    from app.services.release_analysis import ReleaseAnalysisView
    from app.services.review_import import ImportedReview
    from app.services.workbench import Workbench

# Widths add up to what a 120-column terminal shows without a horizontal scrollbar; the title
# line names the metric the "Metric" column holds.
VERSION_COLUMNS = (("Version", 7), ("Model", 22), ("Stage", 10), ("Alias", 10), ("Metric", 7),
                   ("Review", 26), ("Card", 4), ("Author", 14))
TRANSITION_COLUMNS = (("When", 16), ("Version", 8), ("From → to", 30), ("Who", 16), ("Why", 40))
STAGE_STYLE = {"production": "bold green", "staging": "cyan", "archived": "dim", "none": ""}
ALIAS_STYLE = {"champion": "bold green", "challenger": "bold magenta"}
VERDICT_STYLE = {"passed": "green", "significant": "green", "failed": "bold red", "rolled_back": "bold red",
                 "inconclusive": "yellow", "not_significant": "yellow"}
KIND_TITLE = {"shadow": "shadow", "canary": "canary", "ab_test": "A/B test"}


@dataclass(frozen=True)
class ReleaseSnapshot:
    project: ProjectSummary
    metric: str  # the validation metric the project is judged on, e.g. "val_roc_auc"
    actor: str
    signing: str  # how my decisions are signed: the key's fingerprint, or why they are not
    versions: list[ModelVersionView]
    gates: dict[int, PromotionGate]
    analyses: list[ReleaseAnalysisView]
    requests: list[ReviewRequestView]
    transitions: list[TransitionView]
    waivers: list[WaiverView]

    def version(self, number: int) -> ModelVersionView | None:
        return next((v for v in self.versions if v.version == number), None)

    @property
    def production(self) -> ModelVersionView | None:
        return next((v for v in self.versions if v.stage == "production"), None)

    def rollback_target(self, highlighted: ModelVersionView | None) -> int | None:
        """Where a rollback would go: the highlighted version if it was in production before,
        else the one production had before the current one (None when there is none)."""
        current = self.production
        if current is None:
            return None
        earlier = [t.version for t in reversed(self.transitions)
                   if t.to_stage == "production" and t.version != current.version]
        if highlighted is not None and highlighted.version in earlier:
            return highlighted.version
        return earlier[0] if earlier else None


def review_cell(version: ModelVersionView, requests: list[ReviewRequestView]) -> Text:
    """The latest decision on a version, else an open request, else nothing yet."""
    if version.approvals:
        last = version.approvals[-1]
        style = "green" if last.decision == "approved" else "bold red"
        mark = "✔" if last.decision == "approved" else "✘"
        return Text(f"{mark} {last.decision} · {last.approver}", style=style)
    open_request = next((r for r in requests if r.version == version.version and r.status == "open"), None)
    if open_request is not None:
        return Text(f"requested #{open_request.id}" + (f" · {open_request.reviewer}" if open_request.reviewer else ""),
                    style="yellow")
    return Text("none", style="dim")


def version_cells(version: ModelVersionView, metric: str, requests: list[ReviewRequestView]) -> tuple[Text, ...]:
    value = version.metrics.get(metric)
    return (
        Text(f"v{version.version}", style="bold"),
        Text(version.model_kind),
        Text(version.stage, style=STAGE_STYLE.get(version.stage, "")),
        Text(version.alias or "—", style=ALIAS_STYLE.get(version.alias or "", "dim")),
        Text(f"{value:.4f}" if isinstance(value, (int, float)) else "—"),
        review_cell(version, requests),
        Text("✔", style="green") if version.has_card else Text("—", style="dim"),
        Text(version.created_by),
    )


def gate_text(gate: PromotionGate, version: ModelVersionView) -> Text:
    """The promotion gate as a checklist: verdict first, then each check with its evidence."""
    out = Text()
    out.append(f"Promotion gate of v{gate.version}", style="bold underline")
    out.append(f" · {gate.maturity} profile · ")
    if version.stage == "production":
        out.append("in production\n", style="bold green")
    elif gate.blocked:
        out.append(f"blocked by {len(gate.blocked)} required check(s)\n", style="bold red")
    elif gate.warnings:
        out.append(f"passes, {len(gate.warnings)} recommended check(s) would be waived\n", style="bold yellow")
    else:
        out.append("passes\n", style="bold green")
    for check in gate.checks:
        if check.passed:
            mark, style = "✔", "green"
        elif check.waiver is not None:
            mark, style = "~", "cyan"
        elif check.required:
            mark, style = "✘", "bold red"
        else:
            mark, style = "!", "yellow"
        out.append(f" {mark} ", style=style)
        out.append(check.label, style="bold" if check.blocking else "")
        out.append(f"  {'required' if check.required else 'recommended'}\n", style="dim")
        out.append(f"     {check.detail}\n", style="red" if check.blocking else "dim")
        if check.waiver is not None:
            out.append(f"     waived: {check.waiver}\n", style="cyan")
        elif not check.passed and check.required and not check.waivable:
            out.append(f"     cannot be waived for the {gate.maturity} profile\n", style="dim")
    return out


def evidence_text(version: ModelVersionView, analyses: list[ReleaseAnalysisView],
                  requests: list[ReviewRequestView], waivers: list[WaiverView]) -> Text:
    """Release analyses, reviews and waivers of one version, newest first."""
    out = Text()
    out.append(f"Release analyses of v{version.version}\n", style="bold underline")
    mine = [a for a in reversed(analyses) if a.version == version.version]
    if not mine:
        out.append("  none: serve it as the challenger, then n (or `mlwb release shadow` / `canary` / `ab`)\n",
                   style="dim")
    for a in mine:
        out.append(f"  {KIND_TITLE.get(a.kind, a.kind)} ", style="bold")
        out.append(a.verdict, style=VERDICT_STYLE.get(a.verdict, ""))
        against = f"vs v{a.baseline_version}, " if a.baseline_version else ""
        out.append(f"  {against}{a.created_at:%Y-%m-%d} by {a.created_by}\n", style="dim")
        try:
            summary = a.summary()
        except (KeyError, TypeError, ValueError):  # an older result without every field
            summary = ", ".join(f"{k}={v}" for k, v in a.results.items() if not isinstance(v, (dict, list)))
        out.append(f"    {summary}\n")
        if a.decision:
            out.append(f"    decision: {a.decision}\n", style="italic")

    out.append("\nReviews\n", style="bold underline")
    mine_requests = [r for r in reversed(requests) if r.version == version.version]
    if not version.approvals and not mine_requests:
        out.append("  none yet: q asks for one, a / x record a decision\n", style="dim")
    for r in mine_requests:
        out.append(f"  request #{r.id} ", style="bold")
        out.append(r.status, style="yellow" if r.status == "open" else "dim")
        out.append(f"  {r.created_at:%Y-%m-%d %H:%M}\n", style="dim")
        out.append(f"    {r.requested_by} asked {r.reviewer or 'anyone but the author'}\n", style="dim")
        if r.comment:
            out.append(f"    “{r.comment}”\n")
    for a in reversed(version.approvals):
        style = "green" if a.decision == "approved" else "bold red"
        out.append(f"  {'✔' if a.decision == 'approved' else '✘'} {a.decision} ", style=style)
        out.append(f"by {a.approver} · {a.created_at:%Y-%m-%d %H:%M}\n", style="dim")
        if a.comment:
            out.append(f"    “{a.comment}”\n")

    mine_waivers = [w for w in waivers if w.version == version.version]
    if mine_waivers:
        out.append("\nWaivers\n", style="bold underline")
        for w in mine_waivers:
            out.append(f"  {w.check_id}", style="cyan")
            out.append(f" · {w.granted_by} · {w.created_at:%Y-%m-%d}\n", style="dim")
            out.append(f"    {w.reason}\n")
    return out


def transition_cells(t: TransitionView) -> tuple[Text, ...]:
    alias = t.to_stage.startswith("alias:") or t.from_stage.startswith("alias:")
    target = t.to_stage.removeprefix("alias:")
    style = "" if alias else STAGE_STYLE.get(target, "")
    move = f"{t.from_stage.removeprefix('alias:')} → {target}"
    return (Text(f"{t.created_at:%Y-%m-%d %H:%M}", style="dim"), Text(f"v{t.version}", style="bold"),
            Text(("alias " if alias else "stage ") + move, style=style), Text(t.actor), Text(t.reason or "—"))


def promotion_detail(gate: PromotionGate, version: ModelVersionView, production: ModelVersionView | None) -> Text:
    """What the promotion confirm dialog says: what changes, and what the gate found."""
    out = Text()
    replaced = f"v{production.version} (now in production) is archived" if production else "nothing is archived"
    out.append(f"v{version.version} ({version.model_kind}) becomes production and champion; {replaced}.\n")
    if gate.blocked:
        out.append("\nBlocked — the gate refuses while these fail:\n", style="bold red")
        for c in gate.blocked:
            out.append(f"  ✘ {c.label}: {c.detail}\n", style="red")
        out.append("The gate is checked again when you confirm; fix them (or waive where allowed) first.\n",
                   style="dim")
    if gate.warnings:
        out.append(f"\nRecommended for the {gate.maturity} profile, not required — promoting records a waiver "
                   "with your reason:\n", style="bold yellow")
        for c in gate.warnings:
            out.append(f"  ! {c.label}: {c.detail}\n", style="yellow")
    if not gate.blocked and not gate.warnings:
        out.append("\nEvery check passes.\n", style="green")
    return out


class ReleaseScreen(SnapshotScreen[ReleaseSnapshot]):
    """Registry versions of one project; the highlighted one's gate, analyses and reviews."""

    BINDINGS = [
        # The footer shows these in this order and cuts the rest at narrow widths (at 100 columns,
        # after the table's space and about six keys): the decisions of a release first, the
        # round trip of an offline review and the refresh last; F1 and the palette list them all.
        Binding("p", "promote", "Promote", id="release.promote",
                tooltip="Promote the highlighted version to production through the gate"),
        Binding("a", "review('approved')", "Approve", id="release.approve",
                tooltip="Approve the highlighted version (four-eyes: never your own)"),
        Binding("x", "review('rejected')", "Reject", id="release.reject",
                tooltip="Reject the highlighted version, saying what to fix"),
        Binding("k", "card", "Card", id="release.card",
                tooltip="Write the highlighted version's model card, or sign the registry's drafted sections"),
        Binding("w", "waive", "Waive", id="release.waive",
                tooltip="Record a waiver for a failing release check, with its reason (signed)"),
        Binding("n", "analyse", "Analyse", id="release.analyse",
                tooltip="Run the shadow, canary or A/B analysis of the highlighted version against production"),
        Binding("f", "findings", "Findings", id="release.findings",
                tooltip="The highlighted version's findings: their history, and a status change with a reason"),
        Binding("b", "rollback", "Rollback", id="release.rollback",
                tooltip="Restore an earlier production version, with a reason"),
        Binding("c", "challenger", "Challenger", id="release.challenger",
                tooltip="Make the highlighted version the challenger"),
        Binding("q", "request_review", "Ask review", id="release.ask_review",
                tooltip="Ask someone for an independent review of the version"),
        Binding("e", "export_bundle", "Export bundle", id="release.export_bundle",
                tooltip="Export the project's evidence bundle (.zip or folder), signed with your key, for an "
                        "offline review"),
        Binding("i", "import_review", "Import review", id="release.import_review",
                tooltip="Import a validator's signed review.json: its conclusion, findings and signed decision"),
        Binding("escape", "app.pop_screen", "Back", id="release.back", tooltip="Back to the project"),
        Binding("r", "reload", "Refresh", id="release.refresh", tooltip="Read the registry again"),
    ]

    def __init__(self, slug: str) -> None:
        super().__init__()
        self.slug = slug
        self.snapshot: ReleaseSnapshot | None = None
        self._binding_state: tuple[bool, ...] | None = None
        self.last_export: ExportedBundle | None = None
        self.last_review: ImportedReview | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="deployment"):
            yield Static(f"[b]{self.slug}[/b] · release  loading…", id="deploy-title")
            yield row_table("versions", VERSION_COLUMNS)
            with Horizontal(id="deploy-detail"):
                with VerticalScroll(id="deploy-gate"):
                    yield Static("", id="deploy-gate-body")
                with VerticalScroll(id="deploy-evidence"):
                    yield Static("", id="deploy-evidence-body")
            yield Label("Transitions (newest first)", id="transitions-title", classes="evidence-title")
            yield row_table("transitions", TRANSITION_COLUMNS)

    def on_mount(self) -> None:
        self.query_one("#versions", DataTable).focus()

    # --- loading -------------------------------------------------------------------------

    def load(self, wb: Workbench) -> ReleaseSnapshot:
        from app.services import people, projects, promotion, registry, release_analysis
        from app.ml.catalogue import project_metric

        project = projects.project_summary(wb, self.slug)
        versions = registry.list_models(wb, self.slug)
        me = people.identity(wb)
        return ReleaseSnapshot(
            project=project,
            metric=f"val_{project_metric(project.problem_type)}",
            actor=me.name,
            signing=(f"signing as {me.person.role} with key {me.person.short_fingerprint}" if me.person
                     else "key not registered here: decisions are refused" if me.key
                     else "no signing key: decisions are unsigned (`mlwb people init`)"),
            versions=versions,
            gates={v.version: promotion.promotion_gate(wb, self.slug, v.version) for v in versions},
            analyses=release_analysis.list_release_analyses(wb, self.slug),
            requests=registry.review_requests(wb, self.slug),
            transitions=promotion.transitions(wb, self.slug),
            waivers=promotion.waivers(wb, self.slug),
        )

    def show(self, snapshot: ReleaseSnapshot) -> None:
        self.snapshot = snapshot
        table = self.query_one("#versions", DataTable)
        keep = self.selected.version if self.selected else None
        table.clear()
        for v in snapshot.versions:
            table.add_row(*version_cells(v, snapshot.metric, snapshot.requests), key=str(v.version))
        numbers = [v.version for v in snapshot.versions]
        if keep in numbers:
            table.move_cursor(row=numbers.index(keep))
        elif snapshot.production is not None:
            # Open on what is most likely to be decided next: the challenger, else production.
            challenger = next((v for v in snapshot.versions if v.alias == "challenger"), snapshot.production)
            table.move_cursor(row=numbers.index(challenger.version))
        history = self.query_one("#transitions", DataTable)
        history.clear()
        for t in reversed(snapshot.transitions):
            history.add_row(*transition_cells(t))
        production = snapshot.production
        challenger = next((v for v in snapshot.versions if v.alias == "challenger"), None)
        self.query_one("#deploy-title", Static).update(
            f"[b]{snapshot.project.name}[/b] ({self.slug}) · release · {len(snapshot.versions)} version(s) · "
            f"production [b]{f'v{production.version}' if production else 'none'}[/b] · "
            f"challenger [b]{f'v{challenger.version}' if challenger else 'none'}[/b]\n"
            f"[dim]{snapshot.project.maturity} profile · judged on {snapshot.metric} · "
            f"acting as {snapshot.actor}, {snapshot.signing}[/dim]"
        )
        self._show_selected()
        self._sync_bindings()

    @property
    def selected(self) -> ModelVersionView | None:
        if self.snapshot is None or not self.snapshot.versions:
            return None
        key = cursor_key(self.query_one("#versions", DataTable))
        return self.snapshot.version(int(key)) if key is not None else None

    @on(DataTable.RowHighlighted, "#versions")
    def _highlighted(self) -> None:
        self._show_selected()
        self._sync_bindings()

    def _show_selected(self) -> None:
        gate_box = self.query_one("#deploy-gate-body", Static)
        evidence_box = self.query_one("#deploy-evidence-body", Static)
        version = self.selected
        if self.snapshot is None or version is None:
            gate_box.update("No model versions yet: register a run with g on the runs screen (M on the project) "
                            f"or with `mlwb models {self.slug} --register RUN`.")
            evidence_box.update("")
            return
        gate_box.update(gate_text(self.snapshot.gates[version.version], version))
        evidence_box.update(evidence_text(version, self.snapshot.analyses, self.snapshot.requests,
                                          self.snapshot.waivers))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Offer only what applies to the highlighted version."""
        if not self.is_mounted or action in ("reload", "pop_screen"):
            return True
        version = self.selected
        if action in ("review", "request_review", "findings"):
            return version is not None
        if action == "promote":
            return version is not None and version.stage != "production"
        if action == "challenger":
            return version is not None and version.stage != "production" and version.alias != "challenger"
        if action == "rollback":
            return self.snapshot is not None and self.snapshot.rollback_target(version) is not None
        if action == "card":
            return version is not None
        if action == "waive":
            from screens.modals.waiver_dialog import waivable

            return (version is not None and self.snapshot is not None and version.stage != "production"
                    and bool(waivable(self.snapshot.gates[version.version].checks)))
        if action == "analyse":
            return (version is not None and self.snapshot is not None and self.snapshot.production is not None
                    and version.stage != "production")
        return True

    def _sync_bindings(self) -> None:
        """Refresh the footer only when what applies changed (recomposing it costs ~80 ms)."""
        state = tuple(bool(self.check_action(a, ())) for a in ("review", "promote", "challenger", "rollback", "waive",
                                                                "analyse"))
        if state != self._binding_state:
            self._binding_state = state
            self.refresh_bindings()

    # --- actions -------------------------------------------------------------------------

    def action_review(self, decision: str) -> None:
        from screens.modals.review_dialog import ReviewDialog

        version = self.selected
        if version is None or self.snapshot is None:
            return

        def decided(values: dict[str, str] | None) -> None:
            if values:
                self._decide(version.version, values["decision"], values["comment"])

        self.app.push_screen(ReviewDialog(version.version, model_kind=version.model_kind, author=version.created_by,
                                          actor=self.snapshot.actor, decision=decision), decided)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _decide(self, version: int, decision: str, comment: str) -> None:
        from app.services import registry

        registry.record_approval(self.wb, self.slug, version, decision=decision, comment=comment)
        self.notify(f"Version {version} {decision}; recorded in the audit trail.", title="Review recorded",
                    severity="information" if decision == "approved" else "warning")
        self.announce_change(everywhere=True)

    def action_request_review(self) -> None:
        from screens.modals.review_dialog import RequestReviewDialog

        version = self.selected
        if version is None:
            return

        def asked(values: dict | None) -> None:
            if values:
                self._request(version.version, values["reviewer"], values["comment"])

        self.app.push_screen(RequestReviewDialog(version.version, model_kind=version.model_kind), asked)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _request(self, version: int, reviewer: str | None, comment: str) -> None:
        from app.services import registry

        request = registry.request_review(self.wb, self.slug, version, reviewer=reviewer, comment=comment)
        self.notify(f"Review request #{request.id} for version {version} sent to "
                    f"{request.reviewer or 'any reviewer but the author'}.", title="Review requested")
        self.announce_change(everywhere=True)

    def action_promote(self) -> None:
        from screens.modals.review_dialog import ReasonDialog

        version = self.selected
        if version is None or self.snapshot is None or version.stage == "production":
            return
        gate = self.snapshot.gates[version.version]

        def confirmed(reason: str | None) -> None:
            if reason is not None:
                self._promote(version.version, reason)

        detail = promotion_detail(gate, version, self.snapshot.production)
        self.app.push_screen(ReasonDialog(f"Promote version {version.version} to production", detail,
                                          confirm="Promote", dialog_id="promote-dialog"), confirmed)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _promote(self, version: int, reason: str) -> None:
        from app.services import promotion

        gate = promotion.promote(self.wb, self.slug, version, stage="production", reason=reason)
        waived = [c.label for c in gate.checks if c.waiver is not None]
        note = f" Waived: {'; '.join(waived)}." if waived else ""
        self.notify(f"Version {version} is in production.{note}", title="Promoted", timeout=10)
        self.announce_change(everywhere=True)

    def action_rollback(self) -> None:
        from screens.modals.review_dialog import ReasonDialog

        if self.snapshot is None or self.snapshot.production is None:
            return
        version = self.selected
        target = self.snapshot.rollback_target(version)
        if target is None:
            return
        explicit = version is not None and version.version == target
        current = self.snapshot.production.version
        detail = Text(f"Production v{current} is archived and v{target} "
                      f"({'the highlighted version' if explicit else 'the version production had before'}) becomes "
                      "production and champion again. Only versions that were in production can be restored, so "
                      "the gate is never skipped.")

        def confirmed(reason: str | None) -> None:
            if reason:
                self._rollback(target if explicit else None, reason)

        self.app.push_screen(ReasonDialog(f"Roll back production from v{current} to v{target}", detail,
                                          confirm="Roll back", required=True,
                                          placeholder="what went wrong with the current version",
                                          dialog_id="rollback-dialog"), confirmed)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _rollback(self, to_version: int | None, reason: str) -> None:
        from app.services import promotion

        restored = promotion.rollback(self.wb, self.slug, to_version=to_version, reason=reason)
        self.notify(f"Production is version {restored} again.", title="Rolled back", severity="warning",
                    timeout=10)
        self.announce_change(everywhere=True)

    def action_challenger(self) -> None:
        version = self.selected
        if version is None or version.stage == "production" or version.alias == "challenger":
            return
        self._set_challenger(version.version)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _set_challenger(self, version: int) -> None:
        from app.services import promotion

        promotion.set_alias(self.wb, self.slug, version, "challenger",
                            reason=f"v{version} made challenger on the release screen")
        self.notify(f"Version {version} is the challenger: serve it in shadow or canary to collect release "
                    "evidence.", title="Challenger set")
        self.announce_change(everywhere=True)

    # --- the card, waivers and release analyses (issue 13: every action in both faces) ----------

    def action_card(self) -> None:
        version = self.selected
        if version is not None:
            self._open_card(version.version, version.model_kind)

    @work(thread=True, exit_on_error=False, group="release-read")
    def _open_card(self, version: int, model_kind: str) -> None:
        """Read the card and the registry's drafts in a thread, then open the form on the loop."""
        from app.services import registry

        view = registry.model_card_view(self.wb, self.slug, version)
        drafts = registry.draft_model_card(self.wb, self.slug, version)
        self.app.call_from_thread(self._show_card_dialog, view, drafts, model_kind)

    def _show_card_dialog(self, view: ModelCardView, drafts: dict[str, str], model_kind: str) -> None:
        from screens.modals.card_dialog import CardDialog

        def saved(values: dict | None) -> None:
            if values and (values["write"] or values["confirm"]):
                self._save_card(view.version, values["write"], values["confirm"])
            elif values:
                self.notify("Nothing changed on the card.")

        self.app.push_screen(CardDialog(view, drafts, model_kind=model_kind), saved)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _save_card(self, version: int, write: dict[str, str], confirm: list[str]) -> None:
        from app.services import registry

        current = registry.model_card(self.wb, self.slug, version)
        if write or not current:
            # As `mlwb card --set`: the registry's draft fills what nobody wrote, what is on the
            # card stays, and the person's sections replace theirs.
            drafts = registry.draft_model_card(self.wb, self.slug, version)
            registry.write_model_card(self.wb, self.slug, version, drafts | current | write)
        if confirm:
            registry.confirm_model_card(self.wb, self.slug, version, confirm)
        view = registry.model_card_view(self.wb, self.slug, version)
        self.notify(f"Model card of version {version} saved: {view.detail()}.", title="Card saved",
                    severity="information" if view.complete else "warning", timeout=10)
        self.announce_change(everywhere=True)

    def action_waive(self) -> None:
        from screens.modals.waiver_dialog import WaiverDialog, waivable

        version = self.selected
        if version is None or self.snapshot is None:
            return
        checks = waivable(self.snapshot.gates[version.version].checks)
        if not checks:
            return

        def chosen(values: dict[str, str] | None) -> None:
            if values:
                self._waive(version.version, values["check"], values["reason"])

        self.app.push_screen(WaiverDialog(version.version, checks, maturity=self.snapshot.project.maturity), chosen)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _waive(self, version: int, check: str, reason: str) -> None:
        from app.services import promotion

        w = promotion.waive(self.wb, self.slug, version, check, reason)
        self.notify(f"Waiver of {w.check_id} on version {w.version} recorded by {w.granted_by}"
                    + ("" if w.signer_fingerprint else " (unsigned)") + ".", title="Waiver recorded")
        self.announce_change(everywhere=True)

    def action_analyse(self) -> None:
        from screens.modals.analysis_dialog import AnalysisDialog

        version = self.selected
        if version is None or self.snapshot is None or self.snapshot.production is None:
            return

        def chosen(values: dict | None) -> None:
            if values:
                self.notify(f"Running the {KIND_TITLE[values['kind']]} analysis of v{version.version}…")
                self._analyse(version.version, values["kind"], values["params"])

        self.app.push_screen(AnalysisDialog(version.version, self.snapshot.production.version), chosen)

    @work(thread=True, exit_on_error=False, group="release-write")
    def _analyse(self, version: int, kind: str, params: dict[str, float | None]) -> None:
        """Reads the prediction log and runs small statistics (no model is scored), so a thread
        suffices: the loop stays free while it runs."""
        from app.services import release_analysis as ra

        run = {"shadow": ra.analyse_shadow, "canary": ra.analyse_canary, "ab_test": ra.analyse_ab_test}[kind]
        a = run(self.wb, self.slug, version=version, **params)
        self.notify(f"{KIND_TITLE[a.kind]} of v{a.version} against v{a.baseline_version}: {a.verdict}. "
                    + (a.decision or ""), title="Release analysis recorded",
                    severity="information" if a.verdict in ("passed", "significant") else "warning", timeout=12)
        self.announce_change(everywhere=True)

    # --- the offline review round trip: export the bundle, import the signed review ----------

    def action_export_bundle(self) -> None:
        from screens.modals.export_dialog import ExportBundleDialog, default_bundle_path

        wb = self.wb

        def export(path: str) -> ExportedBundle:
            """In the form's thread: the service (and the PDF modules it imports) stay off the loop."""
            from app.services.evidence_bundle import export_bundle

            return export_bundle(wb, self.slug, path)
        signing = f"Signed as {self.snapshot.actor}: {self.snapshot.signing}." if self.snapshot else ""

        def exported(bundle: ExportedBundle | None) -> None:
            if bundle is not None:
                self.last_export = bundle
                self.notify(f"Wrote {bundle.path}: {bundle.files} files, {bundle.events} audit events, chain head "
                            f"#{bundle.head_seq} {bundle.head_hash[:16]}…, manifest SHA-256 "
                            f"{bundle.manifest_sha256[:16]}… (signed with key {bundle.signer_fingerprint[:16]}…). "
                            "A validator checks it with `mlwb verify-bundle` and reviews it with `mlwb review open`.",
                            title="Evidence bundle exported", timeout=20)
                self.announce_change(everywhere=True)

        dialog = ExportBundleDialog(self.slug, default_bundle_path(wb.workspace.exports_dir, self.slug),
                                    signing=signing)
        self.app.push_screen(dialog.saving_with(export), exported)

    def action_import_review(self) -> None:
        from screens.modals.file_picker import FilePicker

        wb = self.wb

        def import_file(path: Path) -> ImportedReview:
            from app.services.review_import import import_review

            return import_review(wb, path)

        def imported(review: ImportedReview | None) -> None:
            if review is None:
                return
            self.last_review = review
            if review.already_imported:
                self.notify(f"This review (#{review.review_id}) was imported before; nothing was added.",
                            severity="warning")
                return
            findings = f"{len(review.findings)} finding(s) raised" if review.findings else "no findings"
            self.notify(f"{review.reviewer}'s review of v{review.version}: {review.conclusion.replace('_', ' ')} "
                        f"({review.decision}, signed by key {review.signer_fingerprint[:16]}…); {findings}.",
                        title="Review imported", timeout=15,
                        severity="information" if review.decision == "approved" else "warning")
            self.announce_change(everywhere=True)

        # The picker's check runs in its thread: the import itself, so a refusal (not signed by a
        # registered key, evidence changed since the bundle) is shown beside the path and the
        # picker stays open for another file.
        self.app.push_screen(FilePicker("Import a validator's signed review", check=import_file,
                                        start=wb.workspace.exports_dir, suffixes=(".json",)), imported)

    def action_findings(self) -> None:
        from screens.findings import FindingsScreen

        version = self.selected
        if version is not None:
            self.app.push_screen(FindingsScreen(self.slug, version.version))
