"""The plain forms the evidence rests on: canonical JSON, an exported event, the evidence digest.

One definition of each, shared by the audit chain (``app.audit``: an event's HMAC covers its
canonical JSON), the evidence bundle (``app.services.evidence_bundle`` writes events in this
form) and its verifier (``app.bundle_verify``, which must run on a reviewer's machine with no
workspace). It imports nothing of the project and nothing that touches a database, so any of
them, and a worker process, can import it for free.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: The ``prev_hash`` of the first event, and the evidence digest before any event.
GENESIS = "0" * 64

#: The fields of one exported event, named as in the HMAC body (``app.audit.event_body``) so a
#: key holder can recompute ``hash`` from a line; ``payload`` is the stored canonical JSON text.
EVENT_FIELDS = ("seq", "ts", "actor", "action", "entity_type", "entity_id", "project", "payload",
                "prev_hash", "hash")
DIGEST_FIELD = "digest"
DIGEST_ALGORITHM = (
    "d_0 = 64 zeros; d_i = SHA-256 hex of UTF-8 (d_{i-1} + canonical JSON of event i without its "
    "'digest' field: keys sorted, separators ',' and ':', non-ASCII kept), HMAC hash included"
)


def canonical_json(value: Any) -> str:
    """Keys sorted, no whitespace, non-ASCII kept: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def next_digest(previous: str, event: dict[str, Any]) -> str:
    """``d_i`` from ``d_{i-1}`` and event i (its ``digest`` field, if present, is left out)."""
    body = canonical_json({k: v for k, v in event.items() if k != DIGEST_FIELD})
    return hashlib.sha256((previous + body).encode("utf-8")).hexdigest()
