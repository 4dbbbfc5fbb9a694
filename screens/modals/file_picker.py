"""Choosing a file to import, from the keyboard: type a path, or walk the folders.

The typed path comes first (enter chooses it; a folder opens it), because a person who knows
where the file is should not have to walk there; the list below shows the current folder's
sub-folders and the files the importer reads (arrows, enter to open or choose, backspace or
``../`` to go up). A chosen file is handed to ``check`` in a thread worker (the import dialog
reads it as the import would), so a file that exists but is not a readable table is refused
beside the path field, and the picker stays open for another try.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from app.errors import WorkbenchError

# What app.ml.tabular.load_table reads (CSV_SUFFIXES | PARQUET_SUFFIXES); not imported from
# there because that module imports pandas, and the picker opens before anything needs it.
# tests/tui/test_tui_import.py checks the two agree.
TABLE_SUFFIXES = (".csv", ".txt", ".parquet", ".pq")
PARENT = "\x00parent"  # the option id of "../"

ChosenT = TypeVar("ChosenT")


def _size(path: Path) -> str:
    try:
        size = float(path.stat().st_size)
    except OSError:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return "?"


def folder_entries(folder: Path, suffixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(option id, text) of a folder's visible sub-folders, then its table files, by name."""
    dirs, files = [], []
    try:
        children = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    except OSError as exc:
        raise WorkbenchError(f"{folder} cannot be listed ({exc.strerror or exc}): type another path") from None
    for child in children:
        if child.name.startswith("."):
            continue
        try:
            if child.is_dir():
                dirs.append((str(child), f"{child.name}/"))
            elif child.suffix.lower() in suffixes:
                files.append((str(child), f"{child.name}  ·  {_size(child)}"))
        except OSError:
            continue
    return dirs + files


class EntryList(OptionList):
    """The current folder's entries; backspace goes up a folder (in the path field it edits text)."""

    BINDINGS = [
        Binding("backspace", "screen.parent", "Up a folder", id="file_picker.up",
                tooltip="Show the folder above this one"),
    ]


class FilePicker(ModalScreen[ChosenT | None], Generic[ChosenT]):
    """Returns ``check(path)`` for the chosen file (the path itself without a check), or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="file_picker.cancel", tooltip="Close without choosing a file"),
        Binding("down", "focus_list", "Folder list", show=False, id="file_picker.to_list",
                tooltip="From the path field, move to the folder's entries"),
    ]

    @dataclass
    class Listed(Message, bubble=False):
        folder: Path
        entries: list[tuple[str, str]]

    @dataclass
    class Refused(Message, bubble=False):
        error: str

    @dataclass
    class Checked(Message, bubble=False):
        result: Any

    def __init__(self, title: str, *, check: Callable[[Path], ChosenT] | None = None,
                 start: Path | None = None, suffixes: tuple[str, ...] = TABLE_SUFFIXES,
                 chooses_folder: Callable[[Path], bool] | None = None) -> None:
        """``chooses_folder(path)`` true: that folder is chosen (and checked) like a file instead
        of opened, e.g. an MLflow ``mlruns/`` folder; every other folder opens."""
        super().__init__()
        self.chooses_folder = chooses_folder
        self.title_text = title
        self.check = check
        self.suffixes = suffixes
        self.folder = (start or Path.cwd()).expanduser().resolve()
        self.checking = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="file-picker"):
            yield Label(f"{self.title_text} · {' '.join(self.suffixes)} · enter chooses, esc cancels",
                        classes="dialog-title")
            yield Label("Path (type it, or pick below)")
            yield Input(str(self.folder) + os.sep, id="picker-path")
            yield Static("", id="picker-error", classes="dialog-error")
            yield Static("", id="picker-folder", classes="note")
            yield EntryList(id="picker-entries")
            yield Static("↑ ↓ move · enter opens a folder or chooses a file · backspace or ../ goes up · "
                         "↓ from the path field goes to the list", classes="note")

    def on_mount(self) -> None:
        path_field = self.query_one("#picker-path", Input)
        path_field.focus()
        path_field.cursor_position = len(path_field.value)
        self._list(self.folder)

    # --- the folder list ---------------------------------------------------------------------

    @work(thread=True, exit_on_error=False, exclusive=True, group="picker-list")
    def _list(self, folder: Path) -> None:
        try:
            self.post_message(self.Listed(folder, folder_entries(folder, self.suffixes)))
        except WorkbenchError as exc:
            self.post_message(self.Refused(str(exc)))

    @on(Listed)
    def _listed(self, message: Listed) -> None:
        self.folder = message.folder
        entries = self.query_one("#picker-entries", EntryList)
        entries.clear_options()
        options = [Option(Text("../", style="bold"), id=PARENT)] if message.folder.parent != message.folder else []
        options += [Option(Text(text, style="bold" if text.endswith("/") else ""), id=key)
                    for key, text in message.entries]
        entries.add_options(options)
        tables = sum(1 for _, text in message.entries if not text.endswith("/"))
        self.query_one("#picker-folder", Static).update(
            f"{message.folder} · {tables} table file(s)" if tables else
            f"{message.folder} · no {'/'.join(self.suffixes)} files here")
        if options:
            entries.highlighted = 1 if len(options) > 1 and options[0].id == PARENT else 0

    def open_folder(self, folder: Path) -> None:
        self.query_one("#picker-error", Static).update("")
        path_field = self.query_one("#picker-path", Input)
        path_field.value = str(folder) + (os.sep if folder != folder.parent else "")
        path_field.cursor_position = len(path_field.value)
        self._list(folder)

    def action_parent(self) -> None:
        self.open_folder(self.folder.parent)

    def action_focus_list(self) -> None:
        self.query_one("#picker-entries", EntryList).focus()

    @on(OptionList.OptionSelected, "#picker-entries")
    def _entry_chosen(self, event: OptionList.OptionSelected) -> None:
        key = event.option.id
        if key == PARENT:
            self.action_parent()
        elif key is not None:
            self.choose(Path(key))

    # --- the typed path ----------------------------------------------------------------------

    @on(Input.Submitted, "#picker-path")
    def _typed(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self._refuse("type the path of a .csv or .parquet file, or pick one below")
            return
        path = Path(text).expanduser()
        self.choose(path if path.is_absolute() else self.folder / path)

    def _refuse(self, error: str) -> None:
        self.checking = False
        self.query_one("#picker-error", Static).update(error)
        self.query_one("#picker-path", Input).focus()

    def choose(self, path: Path) -> None:
        """Open a folder, or check a file and return it; a refusal is shown beside the path."""
        if self.checking:
            return
        if path.is_dir() and not (self.chooses_folder is not None and self.chooses_folder(path)):
            self.open_folder(path.resolve())
            return
        if path.parent.is_dir() and path.parent.resolve() != self.folder:
            self._list(path.parent.resolve())  # the list follows the typed path, for a pick nearby
        if not path.exists():
            self._refuse(f"no file at {path}: check the path (tab moves to the list of this folder)")
            return
        if path.is_file() and path.suffix.lower() not in self.suffixes:
            self._refuse(f"{path.name} is not a file this step reads: choose a {' or '.join(self.suffixes)} file")
            return
        if not os.access(path, os.R_OK):
            self._refuse(f"{path.name} cannot be read (permission denied): fix its permissions or copy it")
            return
        self.query_one("#picker-path", Input).value = str(path)
        if self.check is None:
            self.dismiss(path)  # type: ignore[arg-type]
            return
        self.checking = True
        self.query_one("#picker-error", Static).update(Text(f"reading {path.name}…", style="dim"))
        self._check(path)

    @work(thread=True, exit_on_error=False, exclusive=True, group="picker-check")
    def _check(self, path: Path) -> None:
        assert self.check is not None
        try:
            self.post_message(self.Checked(self.check(path)))
        except WorkbenchError as exc:
            self.post_message(self.Refused(str(exc)))

    @on(Refused)
    def _refused(self, message: Refused) -> None:
        self._refuse(message.error)

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        self.checking = False
        self.dismiss(message.result)

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """A failure that is not a refusal (a bug, an OS error) is shown too, and the picker stays up."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self._refuse(f"could not read it: {type(error).__name__}: {error}")

    def action_cancel(self) -> None:
        self.dismiss(None)
