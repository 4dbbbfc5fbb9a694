"""The worker-process side of building a document: frozen data in, PDF file out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def render_task(payload: dict[str, Any], progress: Callable[[float, str], None],
                should_stop: Callable[[], bool]) -> dict[str, Any]:
    """Render ``payload["data"]`` as ``payload["kind"]`` to ``payload["out"]``; returns its hash and pages.

    ``payload["chain"]`` (an ``app.audit.ChainCheck``: the events up to the records' head as
    plain rows, and the audit key), when present, is run first and its verdict and evidence
    digest go into the records: the parent read the rows without walking the chain, so the
    TUI's process never spends seconds of GIL on a long trail, and this process never opens
    the registry.
    """
    from dataclasses import replace

    from reports.render import render_document

    data = payload["data"]
    if payload.get("chain") is not None:
        progress(0.01, "verifying the audit chain")
        verdict, digest = payload["chain"].run()
        data = replace(data, chain=verdict, evidence_digest=digest)
    result = render_document(payload["kind"], data, payload["out"], progress=progress)
    return {"path": str(result.path), "sha256": result.sha256, "pages": result.pages}
