"""Retrain now: the reason, and whether the retraining answers an open trigger.

When the screen has an open trigger in view (an alert's automatic one, or a scheduled one),
the dialog offers to answer it, so the trigger → run lineage closes; unticked, or with no
trigger, the retraining is on demand and the reason becomes its trigger's reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Checkbox, Static

from screens.modals.review_dialog import ReasonDialog

if TYPE_CHECKING:
    from app.services.retraining import TriggerView


class RetrainDialog(ReasonDialog):
    """Returns {"trigger_id": int | None, "reason": str}, or None when cancelled."""

    def __init__(self, slug: str, trigger: TriggerView | None = None) -> None:
        super().__init__(f"Retrain {slug} now", confirm="Retrain", required=trigger is None,
                         placeholder="why retrain now (becomes the on-demand trigger's reason)",
                         dialog_id="retrain-dialog")
        self.trigger = trigger

    def compose_detail(self) -> ComposeResult:
        text = Text()
        text.append("Runs the retraining in a worker process: the screen stays usable and the jobs strip at the "
                    "bottom shows progress. The new run is recorded against its trigger (trigger → data → job → "
                    "run).\n", style="dim")
        if self.trigger is not None:
            t = self.trigger
            text.append(f"\nOpen trigger #{t.id}", style="bold")
            text.append(f" · {t.kind} · batch {t.batch or '—'}"
                        + (f" · alert #{t.alert_id}" if t.alert_id else "") + "\n")
            text.append(f"  {t.reason}\n", style="yellow")
        yield Static(text, id="retrain-detail")
        if self.trigger is not None:
            yield Checkbox(f"Answer trigger #{self.trigger.id} (its run is recorded against it)", value=True,
                           id="retrain-answer")

    def reason_label(self) -> str:
        return "Reason (required unless it answers the trigger)" if self.trigger else "Reason (required)"

    @property
    def answers_trigger(self) -> bool:
        return self.trigger is not None and self.query_one("#retrain-answer", Checkbox).value

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.required = not event.value
        self.query_one("#reason-error", Static).update("")

    def validate(self, reason: str) -> str:
        if not self.answers_trigger and not reason:
            return "Say why: an on-demand retraining records its reason as the trigger."
        return ""

    def result(self, reason: str) -> Any:
        return {"trigger_id": self.trigger.id if self.answers_trigger and self.trigger else None, "reason": reason}
