"""One entry point for every document the workbench renders: kind in, PDF out.

Runs in a worker process (``reports.tasks``), so it takes only frozen report data and a path
and never touches the registry.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Progress = Callable[[float, str], None]

# kind -> what the user picks in the CLI and the reports screen
DOCUMENTS: dict[str, str] = {
    "compliance": "Compliance report",
}


@dataclass(frozen=True)
class RenderedDocument:
    path: pathlib.Path
    sha256: str
    pages: int


def render_document(kind: str, data: Any, out: str | os.PathLike[str], *,
                    progress: Progress | None = None) -> RenderedDocument:
    """Render ``data`` (the frozen data collected for ``kind``) to the PDF at ``out``."""
    from pypdf import PdfReader

    if kind not in DOCUMENTS:
        raise ValueError(f"unknown document '{kind}': choose one of {', '.join(DOCUMENTS)}")
    if progress is not None:
        progress(0.1, f"laying out the {DOCUMENTS[kind].lower()}")
    if kind == "compliance":
        from reports.compliance import render_compliance_report

        path = render_compliance_report(data, out)
    if progress is not None:
        progress(0.95, "checking the written PDF")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return RenderedDocument(path, digest, len(PdfReader(str(path)).pages))
