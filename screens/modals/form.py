"""What the modal forms share: ctrl+s submits, esc cancels, and the last row shows both as
buttons that run the same actions (so a click and a key cannot disagree).

A form keeps what was typed. It opens with its first field focused; tabbing into a field puts
the cursor at the end of its text instead of selecting it (Textual's ``Input`` selects all on
focus by default, so the next key would replace the whole answer), and a pre-filled paragraph
opens with its cursor after its text; a problem is shown beside
the field it concerns and the form stays open with every value as typed. A form given a
``saving_with`` function calls it (in a thread) before closing, so a refusal from the service
is shown in the form too rather than after the typed text is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Static, TextArea
from textual.worker import Worker

from app.errors import WorkbenchError

ResultT = TypeVar("ResultT")

#: What a form focuses first on open: its first field, in the order the form lays them out.
FIELDS = "Input, TextArea, Select, Checkbox, RadioSet, SelectionList"


class FormButtons(Horizontal):
    """The submit button (named by ``submit``) and Cancel, running their screen's actions."""

    DEFAULT_CLASSES = "buttons"

    def __init__(self, submit: str) -> None:
        super().__init__()
        self.submit = submit

    def compose(self) -> ComposeResult:
        yield Button(f"{self.submit} (ctrl+s)", variant="primary", action="screen.submit", id="form-submit")
        yield Button("Cancel (esc)", action="screen.cancel", id="form-cancel")


class FormDialog(ModalScreen[ResultT]):
    """A modal form: ``action_submit`` dismisses with its values (or says inline what to fix);
    cancelling dismisses with None. Subclasses bind esc and ctrl+s with their own ids.

    Subclasses call ``finish(values)`` to close (through ``saving_with``'s function when one is
    set) and ``show_error(message, field_id)`` for a problem with one field.
    """

    AUTO_FOCUS = FIELDS

    #: Run in a thread with the form's values before it closes; what it returns is the form's
    #: result. A ``WorkbenchError`` it raises is shown in the form, which stays open.
    save: Callable[[Any], Any] | None = None

    def saving_with(self, save: Callable[[Any], Any]) -> FormDialog[ResultT]:
        """Have ``finish`` call ``save`` before closing; returns the form, for ``push_screen``."""
        self.save = save
        return self

    def action_submit(self) -> None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)

    # --- keeping the typed text ---------------------------------------------------------

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.select_on_focus = False
        for area in self.query(TextArea):  # a pre-filled paragraph: typing goes after what is there
            area.move_cursor(area.document.end)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if isinstance(event.widget, Input):
            field = event.widget
            field.select_on_focus = False  # a field mounted after the form opened
            field.cursor_position = len(field.value)

    # --- problems shown where they are --------------------------------------------------

    def error_field(self, message: str) -> str | None:
        """The id of the field a service's refusal is about, or None for the whole form
        (subclasses read their services' messages)."""
        return None

    def show_error(self, message: str, field_id: str | None = None) -> None:
        """Show ``message`` under the field ``field_id`` (the form's own line when None or not
        found), focus that field, and keep everything typed."""
        self.clear_errors()
        field: Widget | None = None
        if field_id:
            found = self.query(f"#{field_id}")
            field = found.first() if found else None
        if field is None:
            self._error_line("form-error", message, before=self.query_one(FormButtons))
            return
        self._error_line(f"{field_id}-error", message, after=field)
        field.focus()

    def _error_line(self, error_id: str, message: str, *, before: Widget | None = None,
                    after: Widget | None = None) -> None:
        """Update the error line ``error_id``, mounting it next to its anchor the first time."""
        existing = self.query(f"#{error_id}")
        if existing:
            line = existing.first()
            assert isinstance(line, Static)
            line.update(message)
            return
        anchor = before or after
        assert anchor is not None and anchor.parent is not None
        classes = "dialog-error" + (" field-error" if after is not None else "")
        line = Static(message, id=error_id, classes=classes)
        if before is not None:
            anchor.parent.mount(line, before=before)
        else:
            anchor.parent.mount(line, after=after)

    def clear_errors(self) -> None:
        """Empty every error line the form showed (their places stay, so nothing jumps)."""
        for widget in self.query(".dialog-error"):
            if isinstance(widget, Static):
                widget.update("")

    def errors(self) -> dict[str, str]:
        """The error lines shown, by id (``<field>-error`` or ``form-error``): what a test reads."""
        return {w.id or "": str(w.render()) for w in self.query(".dialog-error")
                if isinstance(w, Static) and str(w.render()).strip()}

    # --- closing --------------------------------------------------------------------------

    def finish(self, values: Any) -> None:
        """Close with ``values``, or first hand them to ``save`` (in a thread) and close with its
        result; a refusal keeps the form open with the message beside its field."""
        self.clear_errors()
        if self.save is None:
            self.dismiss(values)
        else:
            self._save(values)

    @work(thread=True, exit_on_error=False, exclusive=True, group="form-save")
    def _save(self, values: Any) -> None:
        assert self.save is not None
        try:
            result = self.save(values)
        except WorkbenchError as exc:
            from screens.verb_hint import stack_bindings, with_tui_keys

            message = str(exc)
            shown = with_tui_keys(message, stack_bindings(self.app.screen_stack))
            self.app.call_from_thread(self.show_error, shown, self.error_field(message))
            return
        self.app.call_from_thread(self.dismiss, values if result is None else result)

    @on(Worker.StateChanged)
    def _hand_worker_errors_to_app(self, event: Worker.StateChanged) -> None:
        """A bug in ``save`` is reported by the app's one handler, not lost with the worker."""
        from screens.host import host_of

        try:
            host_of(self.app).report_worker_error(event)
        except TypeError:  # a bare harness app: nothing to report through
            pass
