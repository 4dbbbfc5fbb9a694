"""Reading and verifying the audit trail (writing happens inside every other service)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit import GENESIS, ChainHead, ChainVerdict, HeadAnchor, chain_head, verify_chain
from app.bundle_verify import next_digest
from app.services.workbench import Workbench
from storage.database import Database
from storage.models import AuditEvent


@dataclass(frozen=True)
class EventView:
    seq: int
    ts: str
    actor: str
    action: str
    entity: str
    project: str | None
    summary: str
    hash: str


def _summary(payload: str, limit: int = 120) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload[:limit]
    text = ", ".join(f"{k}={v}" for k, v in data.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verify(wb: Workbench) -> ChainVerdict:
    with wb.read() as session:
        return verify_chain(session, wb.key.secret, wb.anchor)


def exported_event(event: AuditEvent) -> dict[str, Any]:
    """One event as an evidence bundle stores it (``EVENT_FIELDS``) and the digest covers it."""
    return {"seq": event.seq, "ts": event.ts, "actor": event.actor, "action": event.action,
            "entity_type": event.entity_type, "entity_id": event.entity_id, "project": event.project_slug,
            "payload": event.payload, "prev_hash": event.prev_hash, "hash": event.hash}


def _verify_with_digest(session: Session, key: bytes, anchor: HeadAnchor,
                        through: ChainHead | None) -> tuple[ChainVerdict, str]:
    digest = GENESIS

    def fold(event: AuditEvent) -> None:
        nonlocal digest
        digest = next_digest(digest, exported_event(event))

    verdict = verify_chain(session, key, anchor, visit=fold, through=through)
    return verdict, digest if verdict.ok else ""


def verify_with_digest(wb: Workbench) -> tuple[ChainVerdict, str]:
    """Verify the chain and compute the evidence digest through its head in the same pass.

    A report prints the digest so that an exported bundle's events are pinned by the PDF the
    way the head is (``app.bundle_verify``). The digest is empty when the chain is broken: a
    digest up to the break would vouch for nothing.
    """
    with wb.read() as session:
        return _verify_with_digest(session, wb.key.secret, wb.anchor, None)


@dataclass(frozen=True)
class ChainCheck:
    """Verifying the chain through a document's head, runnable in another process.

    Walking the whole chain (every HMAC, every event's JSON) is pure Python: in the TUI's
    process it would hold the GIL for seconds on a long trail. A report build hands this to
    the worker that renders the document instead (``reports.tasks.render_task``), which opens
    the registry read-only. It carries the audit key, so it only ever travels to a child process.
    """

    database_url: str
    key: bytes = field(repr=False)
    anchor: HeadAnchor
    through: ChainHead | None

    def run(self) -> tuple[ChainVerdict, str]:
        database = Database(self.database_url)
        try:
            with database.read() as session:
                return _verify_with_digest(session, self.key, self.anchor, self.through)
        finally:
            database.dispose()


def chain_check(wb: Workbench, head_seq: int, head_hash: str) -> ChainCheck:
    """The check of the chain through the head a document was collected at."""
    through = ChainHead(head_seq, head_hash) if head_seq else None
    return ChainCheck(wb.db.url, wb.key.secret, wb.anchor, through)


def head(wb: Workbench) -> tuple[ChainHead | None, int]:
    with wb.read() as session:
        return chain_head(session), session.scalar(select(func.count(AuditEvent.seq))) or 0


def recent_events(wb: Workbench, *, project: str | None = None, limit: int = 200) -> list[EventView]:
    with wb.read() as session:
        query = select(AuditEvent)
        if project:
            query = query.where(AuditEvent.project_slug == project)
        rows = session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit))
        return [
            EventView(e.seq, e.ts, e.actor, e.action, f"{e.entity_type} {e.entity_id}", e.project_slug,
                      _summary(e.payload), e.hash)
            for e in rows
        ]
