"""One entry point for every document the workbench renders: kind in, PDF out.

Runs in a worker process (``reports.tasks``), so it takes only frozen document data and a
path and never touches the registry. The data comes from the collector of the same kind in
``app.services.reporting`` (``COLLECTORS[kind]``).
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
    "problem_statement": "Problem statement",
    "model_card": "Model card",
    "drift": "Drift report",
    "validation": "Validation report",
}


# kind -> "module:function" turning collected ProjectRecords into that kind's DocumentData
BUILDERS: dict[str, str] = {
    "compliance": "reports.compliance:compliance_document",
    "problem_statement": "reports.statement:problem_statement_document",
    "model_card": "reports.model_card:model_card_document",
    "drift": "reports.drift:drift_document",
    "validation": "reports.validation:validation_document",
}


@dataclass(frozen=True)
class RenderedDocument:
    path: pathlib.Path
    sha256: str
    pages: int


def build_document(kind: str, records: Any) -> Any:
    """The :class:`DocumentData` of ``kind`` for ``records`` (``ProjectRecords``), unrendered."""
    import importlib

    module, function = BUILDERS[kind].split(":")
    return getattr(importlib.import_module(module), function)(records)


def render_document(kind: str, data: Any, out: str | os.PathLike[str], *,
                    progress: Progress | None = None) -> RenderedDocument:
    """Render ``data`` as document ``kind`` to the PDF at ``out`` (written atomically).

    ``data``: the records ``app.services.reporting.COLLECTORS[kind]`` returned, or a
    ``DocumentData`` of that kind already built from them. The same data always gives the
    same bytes, so a re-rendered report can be compared by hash.
    """
    from pypdf import PdfReader

    from reports.data import DocumentData, ProjectRecords
    from reports.documents import render_document_data

    if kind not in DOCUMENTS:
        raise ValueError(f"unknown document '{kind}': choose one of {', '.join(DOCUMENTS)}")
    got = getattr(data, "kind", type(data).__name__)
    if not isinstance(data, (ProjectRecords, DocumentData)) or got != kind:
        raise ValueError(f"the data given is for '{got}', not '{kind}': collect it with "
                         f"app.services.reporting.COLLECTORS['{kind}']")
    if progress is not None:
        progress(0.05, f"laying out the {DOCUMENTS[kind].lower()}")
    document = build_document(kind, data) if isinstance(data, ProjectRecords) else data
    if progress is not None:
        progress(0.2, "drawing charts and pages")
    path = render_document_data(document, out)
    if progress is not None:
        progress(0.95, "checking the written PDF")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return RenderedDocument(path, digest, len(PdfReader(str(path)).pages))
