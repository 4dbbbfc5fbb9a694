"""A project's settings a person changes on the record: its maturity profile (which checks its
gates require) and what the model inventory says about it (risk tier, owner).

Both forms save through ``saving_with`` (``screens.modals.form``): the service decides (an
unknown profile, a missing reason, an owner with no name) and a refusal is shown beside the field
it concerns with everything typed still there. The forms only lay out the choices the lifecycle
defines (``MATURITIES``, ``RISK_TIERS``) and say what a change does.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Select, Static, TextArea

from app.lifecycle import MATURITIES, RISK_TIERS
from screens.modals.form import FormButtons, FormDialog

#: What each maturity profile asks of a project (DESIGN.md, "Maturity profiles"), shown in the form.
PROFILE_MEANING = {
    "startup": "startup: the lightest gates; most checks only warn",
    "growth": "growth: + four-eyes approval, a complete model card, significance over the baseline",
    "enterprise": "enterprise: + shadow, canary, SLA rules and monitoring before production",
}


class MaturityForm(FormDialog[str | None]):
    """Returns what the save function returned (a sentence for the notification), or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="maturity_form.cancel", tooltip="Close without changing the profile"),
        Binding("ctrl+s", "submit", "Change profile", id="maturity_form.save",
                tooltip="Change the maturity profile; the reason is kept in the audit trail"),
    ]

    def __init__(self, slug: str, current: str) -> None:
        super().__init__()
        self.slug = slug
        self.current = current

    def error_field(self, message: str) -> str | None:
        return "maturity-reason" if "why" in message.lower() else "maturity-profile"

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="maturity-form"):
            yield Label(f"Maturity profile of {self.slug} · ctrl+s changes it, esc cancels", classes="dialog-title")
            yield Static(Text(f"Now {self.current}. The gates tighten or relax from their next check on; the "
                              "change, who made it and why go into the audit trail.", style="dim"), classes="note")
            yield Label("Profile")
            yield Select([(PROFILE_MEANING.get(m, m), m) for m in MATURITIES], value=self.current,
                         allow_blank=False, id="maturity-profile")
            yield Label("Reason (required; a reviewer reads it)")
            yield TextArea(id="maturity-reason", classes="paragraph")
            yield FormButtons("Change profile")

    def action_submit(self) -> None:
        maturity = str(self.query_one("#maturity-profile", Select).value)
        if maturity == self.current:
            self.show_error(f"{self.slug} already has the {maturity} profile: choose another one, or esc.",
                            "maturity-profile")
            return
        self.finish({"maturity": maturity, "reason": self.query_one("#maturity-reason", TextArea).text})


class InventoryForm(FormDialog[str | None]):
    """Returns what the save function returned (a sentence for the notification), or None.

    The values are ``risk_tier`` and ``owner`` (None when the owner field is left empty on a
    project that has none: nothing to set) and ``reason``."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="inventory_form.cancel", tooltip="Close without changing anything"),
        Binding("ctrl+s", "submit", "Save", id="inventory_form.save",
                tooltip="Set the risk tier and owner; the old and new values are kept in the audit trail"),
    ]

    def __init__(self, slug: str, risk_tier: str, owner: str) -> None:
        super().__init__()
        self.slug = slug
        self.risk_tier = risk_tier
        self.owner = owner

    def error_field(self, message: str) -> str | None:
        lowered = message.lower()
        if "owner" in lowered:
            return "inventory-owner"
        if "risk tier" in lowered:
            return "inventory-tier"
        return None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="inventory-form"):
            yield Label(f"Model inventory entry of {self.slug} · ctrl+s saves, esc cancels", classes="dialog-title")
            yield Static(Text("The risk tier sets how often a model in production is revalidated (the "
                              "dashboard's inventory shows the next periodic review); the owner answers for the "
                              "model.", style="dim"), classes="note")
            yield Label("Risk tier")
            yield Select([(t, t) for t in RISK_TIERS], value=self.risk_tier if self.risk_tier in RISK_TIERS
                         else RISK_TIERS[0], allow_blank=False, id="inventory-tier")
            yield Label("Owner (who answers for the model)")
            yield Input(self.owner, placeholder="a person's name", id="inventory-owner")
            yield Label("Reason (kept in the audit trail)")
            yield TextArea(id="inventory-reason", classes="paragraph")
            yield FormButtons("Save")

    def action_submit(self) -> None:
        owner = self.query_one("#inventory-owner", Input).value
        risk_tier = str(self.query_one("#inventory-tier", Select).value)
        if risk_tier == self.risk_tier and owner.strip() == self.owner:
            # The service would record nothing; say so rather than report a save.
            self.show_error("Nothing to change: choose another risk tier or owner, or esc.", "inventory-tier")
            return
        self.finish({
            "risk_tier": risk_tier,
            # Empty on a project with no owner: nothing to set. Emptied on one that has an owner: the
            # service says an owner needs a name (an owner is replaced, never removed).
            "owner": None if not owner.strip() and not self.owner else owner,
            "reason": self.query_one("#inventory-reason", TextArea).text,
        })
