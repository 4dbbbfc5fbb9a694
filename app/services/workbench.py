"""The open workbench: database, artifact store and audit key of one workspace.

Every service takes a ``Workbench`` and does its work inside ``unit_of_work()``: one
transaction that holds SQLite's write lock from its first statement, changes state, and
appends the matching audit event, so a crash leaves either both or neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit import (AuditKey, ChainHead, HeadAnchor, check_key_against, has_pending_key, load_key,
                       settle_rotation)
from app.errors import NotFound
from app.services import state_binding
from app.services.audit_trail import append_event, key_samples, newest_event, rotation_to
from app.services.identity import Identity, identity_in, login_name
from app.signing import SigningKey, load_signing_key
from storage.artifacts import ArtifactStore
from storage.database import Database
from storage.models import Project
from storage.workspace import Workspace


@dataclass
class UnitOfWork:
    session: Session
    workbench: Workbench
    identity: Identity
    actor: str

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: object,
        *,
        project: str | None = None,
        **payload: Any,
    ) -> None:
        append_event(
            self.session,
            self.workbench.writing_key(self.session),
            self.workbench.anchor,
            actor=self.actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            project_slug=project,
            payload=payload,
        )

    def project(self, slug: str) -> Project:
        return find_project(self.session, slug)


def find_project(session: Session, slug: str) -> Project:
    project = session.scalars(select(Project).where(Project.slug == slug)).first()
    if project is None:
        known = ", ".join(session.scalars(select(Project.slug).order_by(Project.slug))) or "none yet"
        raise NotFound(f"no project '{slug}' (known projects: {known}); create it with `mlwb projects new`")
    return project


@dataclass
class Workbench:
    workspace: Workspace
    db: Database
    artifacts: ArtifactStore
    key: AuditKey
    anchor: HeadAnchor
    notices: list[str] = field(default_factory=list)
    _signing_keys: dict[str, SigningKey] = field(default_factory=dict, repr=False)

    @classmethod
    def open(cls, workspace: Workspace | None = None) -> Workbench:
        """Open (creating on first use) the workspace and upgrade its schema."""
        ws = (workspace or Workspace.locate()).ensure()
        db = Database(ws.database_url)
        db.upgrade()
        try:
            if has_pending_key(ws.key_file, ws.identity):  # a key rotation a crash left unfinished
                with db.write() as session:
                    settle_rotation(ws.key_file, ws.identity, lambda key_id: rotation_to(session, key_id))
            with db.read() as session:
                samples = key_samples(session)
            key = load_key(ws.key_file, account=ws.identity, chain_has_events=bool(samples))
            check_key_against(key, samples, ws.identity)
        except BaseException:
            db.dispose()
            raise
        bench = cls(ws, db, ArtifactStore(ws.artifacts_dir), key, HeadAnchor(ws.anchor_file, ws.identity))
        if key.notice:
            bench.notices.append(key.notice)
        bench._bind_earlier_rows()
        return bench

    def _bind_earlier_rows(self) -> None:
        """Once, for a registry written before governed rows were bound to the chain: bind them
        as they are now, in an event that says so (``state_binding``). Once, after migration
        0007 numbered rows already bound: bind again those that still match their events."""
        with self.read() as session:
            baseline = state_binding.baseline_pending(session)
            numbers = state_binding.numbers_pending(session)
        if baseline:
            with self.unit_of_work() as uow:
                rows = state_binding.take_baseline(uow.session)
                uow.audit("audit.rows_bound", "workspace", self.workspace.identity, rows=rows,
                          note="rows written before this version, bound as they were found")
        elif numbers:
            with self.unit_of_work() as uow:
                done = state_binding.rebind_numbered_rows(uow.session)
                if done.rebound or done.left:
                    uow.audit("audit.rows_numbered", "workspace", self.workspace.identity, rows=done.rebound,
                              left_as_found=list(done.left),
                              note="dataset versions and runs numbered per project by the upgrade, bound again "
                                   "where every other column still matched its event")

    def writing_key(self, session: Session) -> bytes:
        """The audit key the next event is MAC'd with, inside the write transaction ``session``:
        the current key, re-read (and an unfinished rotation settled) when the chain's newest
        event shows that another process rotated it since this workbench opened."""
        newest = newest_event(session)
        if newest is None or self.key.writes_after(newest):
            return self.key.secret
        ws = self.workspace
        settle_rotation(ws.key_file, ws.identity, lambda key_id: rotation_to(session, key_id))
        key = load_key(ws.key_file, account=ws.identity, chain_has_events=True)
        if key.writes_after(newest):
            self.key = key
        return self.key.secret  # an edited newest event: `mlwb audit verify` names it

    def signing_key(self) -> SigningKey | None:
        """My private signing key (``MLWB_SIGNING_KEY``, else the keyring, else ``signing.key``),
        or None when I have none. Read once per key file."""
        ws = self.workspace
        where = str(ws.signing_key_file)
        if where not in self._signing_keys:
            key = load_signing_key(ws.signing_key_file, login_name(), file_only=ws.signing_key_named)
            if key is None:
                return None
            self._signing_keys[where] = key
        return self._signing_keys[where]

    def forget_signing_key(self) -> None:
        self._signing_keys.clear()

    @property
    def actor(self) -> str:
        """The registered name of my key, else my login name (see ``Identity``)."""
        with self.read() as session:
            return identity_in(session, self.signing_key()).name

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        key = self.signing_key()
        with self.db.write() as session:
            state_binding.track(session)
            who = identity_in(session, key)
            uow = UnitOfWork(session, self, who, who.name)
            yield uow
            state_binding.bind(session, lambda seq: self.key.secret_at(seq))
            head: ChainHead | None = session.info.pop("audit_head", None)
        if head is not None:
            self.anchor.advance(head)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self.db.read() as session:
            yield session

    def close(self) -> None:
        self.db.dispose()
