"""The people a workspace knows by their public keys, and my own key: who signs what here.

``i`` creates my signing key (``people.init_me``: in an empty registry it also registers me as
the admin); ``a`` registers someone's public key with a role (``people.add_person``: admins
only, the service refuses anyone else). Both are the ``mlwb people init`` / ``add`` verbs'
other face. The screen reads and writes only through ``app.services.people``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from app.errors import WorkbenchError
from screens.base import SnapshotScreen
from screens.widgets.tables import row_table

if TYPE_CHECKING:
    from app.services.identity import Identity, PersonView
    from app.services.workbench import Workbench

PEOPLE_COLUMNS = (("Name", 18), ("Role", 10), ("Fingerprint", 24), ("Added by", 16), ("Added (UTC)", 16))
ROLE_STYLE = {"admin": "bold", "validator": "cyan", "approver": "cyan", "author": ""}


@dataclass(frozen=True)
class PeopleSnapshot:
    me: Identity
    login: str  # my login name: the default name of a key I create
    people: list[PersonView]


def me_line(snapshot: PeopleSnapshot) -> Text:
    """Who I am here, in one or two lines: the key I sign with and whom it is registered to."""
    me = snapshot.me
    if me.key is None:
        return Text.assemble(("You have no signing key", "bold yellow"),
                             ": nothing you decide is signed. Press ", ("i", "bold"), " to create one.")
    where = f"kept in {me.key.store}"
    if me.person is not None:
        return Text.assemble(("You: ", "dim"), (me.person.name, "bold"), f" ({me.person.role}) · key ",
                             (me.person.short_fingerprint, "bold"), f" · {where}")
    if not snapshot.people:
        return Text.assemble(f"Your key {me.key.fingerprint[:16]}… ({where}) is not registered: press ",
                             ("i", "bold"), " to register it as this workspace's first admin.")
    return Text.assemble((f"Your key {me.key.fingerprint[:16]}… ({where}) is not registered here", "yellow"),
                         f": send this line to an admin, who presses a on this screen:\n{me.key.public_line}")


class PeopleScreen(SnapshotScreen[PeopleSnapshot]):
    JOBS_PANEL = False

    BINDINGS = [
        Binding("i", "init_key", "Create my key", id="people.init",
                tooltip="Create my Ed25519 signing key; the first person registered becomes the admin"),
        Binding("a", "add_person", "Add person", id="people.add",
                tooltip="Register someone's public key with a role (admins only; audited)"),
        Binding("r", "reload", "Refresh", id="people.refresh"),
        Binding("escape", "app.pop_screen", "Back", id="people.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: PeopleSnapshot | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="people-screen"):
            yield Static("People and signing keys", classes="screen-title")
            yield Static("Loading…", id="people-me")
            yield row_table("people", PEOPLE_COLUMNS, flex="Fingerprint", enter_shows_row=True,
                            title="Registered person")
            yield Static(Text("Roles: an author's key never satisfies four-eyes; a validator or approver decides on "
                              "other people's work; an admin also registers people and rotates the audit key.",
                              style="dim"), id="people-note")

    def load(self, wb: Workbench) -> PeopleSnapshot:
        from app.services.identity import login_name
        from app.services.people import identity, list_people

        return PeopleSnapshot(identity(wb), login_name(), list_people(wb))

    def show(self, snapshot: PeopleSnapshot) -> None:
        self.snapshot = snapshot
        self.query_one("#people-me", Static).update(me_line(snapshot))
        table = self.query_one("#people", DataTable)
        table.clear()
        mine = snapshot.me.fingerprint
        for p in snapshot.people:
            name = Text(p.name, style="bold underline" if p.fingerprint == mine else "bold")
            table.add_row(name, Text(p.role, style=ROLE_STYLE.get(p.role, "")), Text(p.fingerprint),
                          Text(p.added_by), Text(p.created_at.strftime("%Y-%m-%d %H:%M")), key=p.name)
        if not snapshot.people:
            self.query_one("#people-me", Static).update(
                me_line(snapshot) + Text("\nNobody is registered yet: decisions carry names, which prove nothing.",
                                         style="dim"))
        table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("init_key", "add_person") and self.snapshot is None:
            return None  # shown, disabled, until the first snapshot says who I am
        return True

    # --- my key ---------------------------------------------------------------------------

    def action_init_key(self) -> None:
        """Create my key. A key is never replaced: with one already registered (or one that an
        admin has yet to register) there is nothing to create, and the screen says so."""
        snapshot = self.snapshot
        if snapshot is None:
            return
        me = snapshot.me
        if me.key is not None and (me.person is not None or snapshot.people):
            held = (f"registered as {me.person.name} ({me.person.role})" if me.person
                    else "not registered here yet: an admin registers it (a on this screen)")
            self.notify(f"You already have a signing key, {me.key.fingerprint[:16]}… kept in {me.key.store}, "
                        f"{held}. A key is never replaced, so nothing was created.",
                        title="Signing key", severity="warning", timeout=12)
            return
        from screens.modals.people_dialogs import InitKeyForm

        form = InitKeyForm(snapshot.login, nobody_registered=not snapshot.people)
        self.app.push_screen(form.saving_with(self._init_key), self._saved)

    def _init_key(self, values: dict) -> str:
        """Runs in the form's thread worker: ``init_me`` creates the key (or finds the one that a
        newer process created meanwhile, which is refused here as above)."""
        from app.services.people import init_me

        setup = init_me(self.wb, name=values["name"] or None)
        key = setup.key
        if not setup.created and not setup.registered_now:
            raise WorkbenchError(f"you already have a signing key ({key.fingerprint[:16]}…, kept in {key.store}): "
                                 "a key is never replaced, so nothing was created")
        public_file = setup.public_file
        said = ("Created your signing key" if setup.created else "Registered your signing key") + \
            f", kept in {key.store}.\nFingerprint {key.fingerprint}\nPublic key {key.public_line} (also in {public_file})"
        if setup.person is not None:
            return said + f"\nRegistered as {setup.person.name} ({setup.person.role})" + \
                (": the first person, so the admin." if setup.registered_now else ".")
        return said + f"\nNot registered here yet: send {public_file} to an admin, who registers it (a)."

    # --- other people -------------------------------------------------------------------------

    def action_add_person(self) -> None:
        snapshot = self.snapshot
        if snapshot is None:
            return
        from screens.modals.people_dialogs import AddPersonForm

        me = snapshot.me
        who = (f"You are {me.person.name} ({me.person.role})" if me.person
               else "Your key is not registered here" if me.key else "You have no signing key")
        self.app.push_screen(AddPersonForm(who).saving_with(self._add_person), self._saved)

    def _add_person(self, values: dict) -> str:
        """Runs in the form's thread worker: reads a key file when a path was given."""
        from app.services.people import add_person
        from screens.modals.people_dialogs import public_key_text

        person = add_person(self.wb, values["name"], public_key_text(values["key"]), values["role"])
        return f"Registered {person.name} as {person.role}, key fingerprint {person.fingerprint}."

    def _saved(self, message: str | None) -> None:
        if message:
            self.notify(message, title="People", timeout=20)
            self.announce_change(everywhere=True)
