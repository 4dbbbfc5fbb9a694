"""The worker-process side of building a document: frozen data in, PDF file out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def render_task(payload: dict[str, Any], progress: Callable[[float, str], None],
                should_stop: Callable[[], bool]) -> dict[str, Any]:
    """Render ``payload["data"]`` as ``payload["kind"]`` to ``payload["out"]``; returns its hash and pages."""
    from reports.render import render_document

    result = render_document(payload["kind"], payload["data"], payload["out"], progress=progress)
    return {"path": str(result.path), "sha256": result.sha256, "pages": result.pages}
