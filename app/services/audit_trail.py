"""Reading and verifying the audit trail (writing happens inside every other service)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select

from app.audit import ChainHead, ChainVerdict, chain_head, verify_chain
from app.services.workbench import Workbench
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
