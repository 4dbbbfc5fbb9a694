"""The plain forms the evidence rests on: canonical JSON, an exported event, the evidence digest.

One definition of each, shared by the audit chain (``app.audit``: an event's HMAC covers its
canonical body), the signed statements (``app.signing``), the evidence bundle
(``app.services.evidence_bundle`` writes events in these forms) and its verifier
(``app.bundle_verify``, which must run on a reviewer's machine with no workspace). It imports
nothing of the project and nothing that touches a database, so any of them, and a worker
process, can import it for free.

An event leaves the workspace in one of two forms. In **full** (``EVENT_FIELDS``) when it
belongs in the bundle: the exported project's events. As a **placeholder**
(``PLACEHOLDER_FIELDS``: ``seq``, ``prev_hash``, ``hash`` and ``content``, the SHA-256 of its
canonical body) when it does not: another project's event, or a workspace event the project
does not rest on. A placeholder says nothing of who did what, yet the chain's links still check
through it, and the evidence digest is defined over the placeholder form of every event, so it
is recomputed alike from full events and from placeholders.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: The ``prev_hash`` of the first event, and the evidence digest before any event.
GENESIS = "0" * 64

#: The fields of one exported event, named as in the HMAC body (``event_body``) so a
#: key holder can recompute ``hash`` from a line; ``payload`` is the stored canonical JSON text.
EVENT_FIELDS = ("seq", "ts", "actor", "action", "entity_type", "entity_id", "project", "payload",
                "prev_hash", "hash")
#: An event's body: what its HMAC covers after ``prev_hash``, and what ``content`` hashes.
BODY_FIELDS = EVENT_FIELDS[:-2]
CONTENT_FIELD = "content"
#: An event exported without its content: its place in the chain and the hash of its body.
PLACEHOLDER_FIELDS = ("seq", "prev_hash", "hash", CONTENT_FIELD)
DIGEST_FIELD = "digest"
DIGEST_ALGORITHM = (
    "d_0 = 64 zeros; d_i = SHA-256 hex of UTF-8 (d_{i-1} + canonical JSON of event i's placeholder "
    "{seq, prev_hash, hash, content}), where content = SHA-256 hex of the canonical JSON of the event's "
    "body {seq, ts, actor, action, entity_type, entity_id, project, payload}; canonical JSON: keys sorted, "
    "separators ',' and ':', non-ASCII kept. A placeholder line carries its content; for a full line it "
    "is computed from the line"
)


def canonical_json(value: Any) -> str:
    """Keys sorted, no whitespace, non-ASCII kept: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_body(event: Mapping[str, Any]) -> str:
    """The canonical JSON of an event's body (``seq`` … ``payload``, named as exported)."""
    return canonical_json({name: event[name] for name in BODY_FIELDS})


def content_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 of the event's canonical body: its ``content`` as a placeholder."""
    return hashlib.sha256(event_body(event).encode("utf-8")).hexdigest()


def is_placeholder(event: Mapping[str, Any]) -> bool:
    return CONTENT_FIELD in event


def placeholder(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event as another project's export shows it: its links and the hash of its body."""
    if is_placeholder(event):
        return {name: event[name] for name in PLACEHOLDER_FIELDS}
    return {"seq": event["seq"], "prev_hash": event["prev_hash"], "hash": event["hash"],
            CONTENT_FIELD: content_hash(event)}


def next_digest(previous: str, event: Mapping[str, Any]) -> str:
    """``d_i`` from ``d_{i-1}`` and event i, in full or as a placeholder (a ``digest`` field is ignored)."""
    return hashlib.sha256((previous + canonical_json(placeholder(event))).encode("utf-8")).hexdigest()
