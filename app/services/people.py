"""The people a workspace knows by their public keys, and who is acting right now.

Identity is possession of a registered private key. ``mlwb people init`` gives me a key (and,
in an empty registry, makes me its first admin); ``mlwb people add`` registers someone else's
public key with a role, and only an admin may do that. The role says which decisions a key's
signature can carry: an author's key never satisfies four-eyes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.lifecycle import check_title
from app.services.identity import (
    Identity,
    PersonView,
    identity_in,
    login_name,
    person_by_fingerprint,
    person_view,
)
from app.signing import SigningKey, create_signing_key, fingerprint, parse_public_key, short_fingerprint
from app.services.workbench import Workbench
from storage.models import Person

ROLES = ("author", "validator", "approver", "admin")


@dataclass(frozen=True)
class KeySetup:
    """What ``mlwb people init`` did: the key, whether it is new, and whom it is registered to."""

    key: SigningKey
    created: bool
    person: PersonView | None
    registered_now: bool
    public_file: Path  # my public line, to hand to an admin who registers it (never the private key)


def identity(wb: Workbench) -> Identity:
    with wb.read() as session:
        return identity_in(session, wb.signing_key())


def list_people(wb: Workbench) -> list[PersonView]:
    with wb.read() as session:
        return [person_view(p) for p in session.scalars(select(Person).order_by(Person.id))]


def init_me(wb: Workbench, *, name: str | None = None) -> KeySetup:
    """Give me a signing key if I have none, and register it when the registry has nobody yet
    (the first person is its admin). Running it again shows the same key: it never replaces one."""
    key = wb.signing_key()
    created = key is None
    if key is None:
        key = create_signing_key(wb.workspace.signing_key_file, login_name(), file_only=wb.workspace.signing_key_named)
        wb.forget_signing_key()
    public_file = _public_file(wb)
    _write_public_line(public_file, key.public_line)
    with wb.unit_of_work() as uow:
        mine = person_by_fingerprint(uow.session, key.fingerprint)
        if mine is not None:
            if name and name != mine.name:
                raise WorkbenchError(f"this key is already registered as '{mine.name}'; a key belongs to one person")
            return KeySetup(key, created, person_view(mine), False, public_file)
        if uow.session.scalar(select(func.count(Person.id))):
            return KeySetup(key, created, None, False, public_file)
        row = _register(uow.session, name or login_name(), key.public_hex, "admin", added_by=name or login_name(),
                        added_by_fingerprint=key.fingerprint)
        uow.actor = row.name
        uow.audit("person.added", "person", row.id, name=row.name, role=row.role, fingerprint=row.fingerprint,
                  public_key=row.public_key, first_admin=True)
        return KeySetup(key, created, person_view(row), True, public_file)


def _public_file(wb: Workbench) -> Path:
    """Where my public line goes: beside the private key when ``MLWB_SIGNING_KEY`` names one
    (val.key -> val.pub), so a second person's key never overwrites the owner's signing.pub."""
    ws = wb.workspace
    if not ws.signing_key_named:
        return ws.home / "signing.pub"
    key_file = ws.signing_key_file
    public = key_file.with_suffix(".pub")
    return public if public != key_file else key_file.with_name(key_file.name + ".pub")


def _write_public_line(path: Path, line: str) -> None:
    """Write ``line`` to ``path`` unless it holds it already (never touches the private key)."""
    try:
        if path.exists() and path.read_text().strip() == line:
            return
        path.write_text(line + "\n")
    except OSError as exc:
        raise WorkbenchError(f"the key was created, but {path} cannot be written ({exc.strerror}); its public "
                             f"line is {line}") from None


def _register(session: Session, name: str, public_hex: str, role: str, *, added_by: str,
              added_by_fingerprint: str | None) -> Person:
    if not name.strip():
        raise WorkbenchError("a person needs a name (the one reports print beside their key)")
    try:
        name = check_title("a person's name", name, limit=100)
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from None
    if role not in ROLES:
        raise WorkbenchError(f"role must be one of {', '.join(ROLES)}, not '{role}'")
    fp = fingerprint(public_hex)
    holder = person_by_fingerprint(session, fp)
    if holder is not None:
        raise WorkbenchError(f"this key ({short_fingerprint(fp)}) is already registered to '{holder.name}': "
                             "one key belongs to one person, so it cannot be added under another name")
    if session.scalars(select(Person).where(Person.name == name)).first() is not None:
        raise WorkbenchError(f"'{name}' is already registered with another key: choose another name")
    row = Person(name=name, role=role, public_key=public_hex, fingerprint=fp, added_by=added_by,
                 added_by_fingerprint=added_by_fingerprint)
    session.add(row)
    session.flush()
    return row


def add_person(wb: Workbench, name: str, public_key: str, role: str) -> PersonView:
    """Register someone's public key with a role. Only an admin, proven by their key, may."""
    public_hex = parse_public_key(public_key)
    with wb.unit_of_work() as uow:
        me = uow.identity.person
        if me is None:
            nobody = not uow.session.scalar(select(func.count(Person.id)))
            raise WorkbenchError(
                "register yourself first with `mlwb people init` (the first person becomes the admin)" if nobody
                else "your signing key is not registered here, so you cannot add people: ask an admin")
        if me.role != "admin":
            raise WorkbenchError(f"only an admin can add people; {me.name} is registered as {me.role}")
        row = _register(uow.session, name, public_hex, role, added_by=me.name, added_by_fingerprint=me.fingerprint)
        uow.audit("person.added", "person", row.id, name=row.name, role=row.role, fingerprint=row.fingerprint,
                  public_key=row.public_key)
        return person_view(row)


def find_person(wb: Workbench, name: str) -> PersonView:
    with wb.read() as session:
        row = session.scalars(select(Person).where(Person.name == name)).first()
        if row is None:
            raise NotFound(f"nobody called '{name}' is registered: list people with `mlwb people list`")
        return person_view(row)
