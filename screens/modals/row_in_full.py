"""One table row, every cell unabridged: what space (or enter) opens from any ``ReadableTable``.

Tables cut long cells to keep their columns in place; this is where the cut text is read.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class RowInFull(ModalScreen[None]):
    """Each column's label, then its full text (wrapped); any closing key returns."""

    BINDINGS = [
        Binding("escape,space,enter,q", "close", "Close", id="row_in_full.close"),
    ]

    def __init__(self, title: str, cells: Sequence[tuple[str, Text | str]]) -> None:
        super().__init__()
        self.title_text = title
        self.cells = [(label, value if isinstance(value, Text) else Text(value)) for label, value in cells]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog row-in-full", id="row-in-full"):
            yield Label(f"{self.title_text} · esc closes", classes="dialog-title")
            for label, value in self.cells:
                yield Label(label or "·", classes="row-in-full-label")
                shown = value.copy() if value.plain.strip() else Text("—", style="dim")
                shown.no_wrap, shown.overflow = False, "fold"
                yield Static(shown, classes="row-in-full-value")

    def text(self) -> str:
        """The row as plain text (label: value per line), as a test or a copy reads it."""
        return "\n".join(f"{label}: {value.plain}" for label, value in self.cells)

    def action_close(self) -> None:
        self.dismiss(None)
