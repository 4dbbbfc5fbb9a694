"""Write a model version's card: one multi-line field per section, and the registry's drafts to sign.

Each section shows who stands behind its text now (a person, a signed draft, a machine draft,
nobody). A section nobody wrote opens with the registry's draft when it has one: left as it is,
it stays a machine draft (passing the machine's words on is not writing them); ticking "sign
the draft" confirms it with your key (``registry.confirm_model_card``); edited, it is your own
text. Intended use, factors, ethical considerations and caveats are a person's to write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Checkbox, Label, Static, TextArea

from screens.modals.form import FormButtons, FormDialog

if TYPE_CHECKING:
    from app.services.registry import CardSection, ModelCardView

STATUS_STYLE = {"person": "green", "confirmed": "green", "draft": "yellow", "missing": "bold red"}


def section_status(section: CardSection) -> Text:
    style = "yellow" if section.outdated else STATUS_STYLE.get(section.origin, "")
    return Text(f"  {section.status}", style=style)


def signable(section: CardSection, drafts: dict[str, str]) -> bool:
    """A draft a person can sign: the registry drafts it, and it is a draft or an outdated confirmation
    (a section nobody wrote yet is saved as the draft first, then signed)."""
    return bool(drafts.get(section.key)) and (section.origin in ("draft", "missing") or section.outdated)


class CardDialog(FormDialog[dict[str, Any] | None]):
    """Returns {"write": {section: text changed}, "confirm": [sections to sign]}, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="card_dialog.cancel", tooltip="Close without saving the card"),
        Binding("ctrl+s", "submit", "Save", id="card_dialog.save",
                tooltip="Save the sections you wrote and sign the drafts you ticked (audited)"),
    ]

    def __init__(self, view: ModelCardView, drafts: dict[str, str], *, model_kind: str) -> None:
        super().__init__()
        self.view = view
        self.drafts = drafts
        self.model_kind = model_kind
        self.initial = {s.key: s.text or drafts.get(s.key, "") for s in view.sections}
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="card-dialog"):
            yield Label(f"Model card of version {self.view.version} ({self.model_kind}) · ctrl+s saves, esc cancels",
                        classes="dialog-title")
            yield Static(Text("Write each section in your own words, or tick 'sign the draft' to confirm the "
                              "registry's text with your key. The release gate counts written and signed "
                              "sections only.", style="dim"), classes="note")
            for s in self.view.sections:
                yield Label(Text.assemble((s.label, "bold"), section_status(s)), classes="card-section-title")
                yield TextArea(self.initial[s.key], id=f"card-{s.key}", classes="card-section")
                if signable(s, self.drafts):
                    yield Checkbox("sign the registry's draft as my statement", id=f"card-sign-{s.key}",
                                   classes="card-sign")
            yield Static("", id="card-error", classes="dialog-error")
            yield FormButtons("Save")

    def on_mount(self) -> None:
        first = next((s for s in self.view.sections if not s.counts), self.view.sections[0])
        self.query_one(f"#card-{first.key}", TextArea).focus()

    def values(self) -> dict[str, Any] | str:
        write: dict[str, str] = {}
        confirm: list[str] = []
        for s in self.view.sections:
            text = self.query_one(f"#card-{s.key}", TextArea).text.strip()
            if text != self.initial[s.key].strip():
                write[s.key] = text
            boxes = self.query(f"#card-sign-{s.key}").results(Checkbox)
            if any(box.value for box in boxes):
                if s.key in write:
                    return (f"{s.label}: you changed the text and ticked 'sign the draft'; untick it to keep your "
                            "words, or undo the change to sign the registry's draft.")
                confirm.append(s.key)
        return {"write": write, "confirm": confirm}

    def action_submit(self) -> None:
        values = self.values()
        if isinstance(values, str):
            self.error = values
            self.query_one("#card-error", Static).update(values)
            return
        self.dismiss(values)
