"""Who is acting: my signing key and the registered person it belongs to.

Every unit of work resolves this once, so an audit event's actor is the registered name of the
key that is present, and only the login name (which proves nothing) when there is none.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.signing import SigningKey, short_fingerprint
from storage.models import Person


@dataclass(frozen=True)
class PersonView:
    name: str
    role: str
    fingerprint: str
    public_key: str
    added_by: str
    created_at: datetime

    @property
    def short_fingerprint(self) -> str:
        return short_fingerprint(self.fingerprint)


@dataclass(frozen=True)
class Identity:
    """Who is acting: my signing key (if I have one) and the person it is registered to."""

    key: SigningKey | None
    person: PersonView | None

    @property
    def name(self) -> str:
        """The registered name; without one, the login name, which proves nothing."""
        return self.person.name if self.person else login_name()

    @property
    def fingerprint(self) -> str | None:
        return self.person.fingerprint if self.person else None


def login_name() -> str:
    return getpass.getuser()


def person_view(row: Person) -> PersonView:
    return PersonView(row.name, row.role, row.fingerprint, row.public_key, row.added_by, row.created_at)


def person_by_fingerprint(session: Session, fp: str | None) -> Person | None:
    if not fp:
        return None
    return session.scalars(select(Person).where(Person.fingerprint == fp)).first()


def identity_in(session: Session, key: SigningKey | None) -> Identity:
    row = person_by_fingerprint(session, key.fingerprint if key else None)
    return Identity(key, person_view(row) if row else None)




def public_keys(session: Session) -> dict[str, PersonView]:
    """Every registered key by fingerprint: what a signature is checked against."""
    return {p.fingerprint: person_view(p) for p in session.scalars(select(Person))}
