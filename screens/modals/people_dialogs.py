"""The two forms of the people screen: create my signing key, and register someone's public key.

Both save through ``saving_with`` (``screens.modals.form``), so the services decide and a
refusal (a name or key already registered, a malformed key, not an admin) is shown beside its
field with everything typed still there.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Select, Static

from app.errors import WorkbenchError
from app.services.people import ROLES
from screens.modals.form import FormButtons, FormDialog

#: What each role's signature may carry (``app.services.people.ROLES``), as the form offers it.
ROLE_MEANING = {
    "author": "author: writes and trains; never satisfies four-eyes",
    "validator": "validator: reviews, approves or rejects other people's work",
    "approver": "approver: approves or rejects other people's releases",
    "admin": "admin: all of the above, and registers people and rotates the audit key",
}


def public_key_text(value: str) -> str:
    """What the key field holds, as key text: the pasted ``ed25519:…`` line (or bare hex, or a
    PEM key) as it is, anything else read as the path of a file holding it. Runs in the form's
    thread (it may read a file); the service parses and checks the key."""
    value = value.strip()
    if not value:
        raise WorkbenchError("paste their public key (the ed25519:… line `mlwb people init` printed) or give the "
                             "path of the file holding it")
    if value.startswith(("ed25519:", "-----BEGIN")) or (len(value) == 64 and all(c in "0123456789abcdefABCDEF"
                                                                                   for c in value)):
        return value
    path = Path(value).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise WorkbenchError(f"cannot read the public key file {path}: {reason}. Paste the ed25519:… line "
                             "instead, or give the path of the file holding it") from None


class InitKeyForm(FormDialog[str | None]):
    """My name, for the registration of my new key when nobody is registered yet (the first
    person becomes the admin). Returns the save function's sentence, or None."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="init_key_form.cancel", tooltip="Close without creating a key"),
        Binding("ctrl+s", "submit", "Create key", id="init_key_form.create",
                tooltip="Create my Ed25519 signing key (never replaces one)"),
    ]

    def __init__(self, login: str, *, nobody_registered: bool) -> None:
        super().__init__()
        self.login = login
        self.nobody_registered = nobody_registered

    def error_field(self, message: str) -> str | None:
        return "init-name" if "name" in message.lower() else None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="init-key-form"):
            yield Label("Create my signing key · ctrl+s creates it, esc cancels", classes="dialog-title")
            who = ("Nobody is registered in this workspace yet: your key is registered under this name and you "
                   "become its admin." if self.nobody_registered else
                   "People are registered here already: an admin registers your public key (people screen, a); "
                   "the key and its public line are shown when it is created.")
            yield Static(Text("The private key is kept in the OS keyring, else in a 0600 file; your decisions are "
                              f"signed with it. {who}", style="dim"), classes="note")
            yield Label("Your name, as reports print it beside your key")
            yield Input(self.login, id="init-name")
            yield FormButtons("Create key")

    def action_submit(self) -> None:
        self.finish({"name": self.query_one("#init-name", Input).value.strip()})


class AddPersonForm(FormDialog[str | None]):
    """Name, role and public key of the person to register. Returns the save function's
    sentence, or None. Only an admin may register people: the service refuses anyone else."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="add_person_form.cancel", tooltip="Close without registering"),
        Binding("ctrl+s", "submit", "Register", id="add_person_form.register",
                tooltip="Register their public key with the role (admins only; audited)"),
    ]

    def __init__(self, me: str) -> None:
        super().__init__()
        self.me = me

    def error_field(self, message: str) -> str | None:
        lowered = message.lower()
        if any(who in lowered for who in ("only an admin", "ask an admin", "register yourself")):
            return None  # about me, not about what was typed
        if "key" in lowered:
            return "person-key"
        if "role" in lowered:
            return "person-role"
        if "name" in lowered:
            return "person-name"
        return None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog form", id="add-person-form"):
            yield Label("Register a person's key · ctrl+s registers, esc cancels", classes="dialog-title")
            yield Static(Text(f"{self.me}. Only an admin may register people; the registration is audited and "
                              "their signatures count from now on.", style="dim"), classes="note")
            yield Label("Name")
            yield Input(placeholder="val.reviewer", id="person-name")
            yield Label("Role")
            yield Select([(ROLE_MEANING[r], r) for r in ROLES], value="validator", allow_blank=False,
                         id="person-role")
            yield Label("Public key: the ed25519:… line `mlwb people init` printed for them, or a file's path")
            yield Input(placeholder="ed25519:3b6a27bc…  or  ~/keys/val.pub", id="person-key")
            yield FormButtons("Register")

    def action_submit(self) -> None:
        name = self.query_one("#person-name", Input).value.strip()
        if not name:
            self.show_error("Give their name, as reports print it beside their key.", "person-name")
            return
        self.finish({"name": name, "role": str(self.query_one("#person-role", Select).value),
                     "key": self.query_one("#person-key", Input).value})
