"""Numbers a person can use: "dataset 2" and "run 3" of a project, beside the registry's ids.

The ids are the registry's keys, unique across projects, so in a workspace that also holds the
demo a new project's first run may be run 42. What a person sees and types is the number within
the project, as model versions always were (``ModelVersion.version``): the first dataset version
of every project is dataset 1, its first run is run 1. Tuning trials (child runs) are shown as
trials of their run and take no number.

One concept, one place: the number is given here (``next_number``), written out here
(``run_label``, ``dataset_label``) and read back here from what a person typed
(``parse_reference``, ``run_id``, ``dataset_id``): ``3`` in the context of a project, or the
qualified ``cancer/run 3`` (also ``cancer/run3``, ``cancer/3``) where no project is otherwise given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import NotFound, WorkbenchError
from app.services.workbench import Workbench, find_project
from storage.models import DatasetVersion, Project, Run

Kind = Literal["run", "dataset"]
_MODELS: dict[str, type[DatasetVersion] | type[Run]] = {"run": Run, "dataset": DatasetVersion}
_LISTING = {"run": "mlwb runs {slug}", "dataset": "mlwb data list {slug}"}
_REFERENCE = re.compile(
    r"^\s*(?:(?P<project>[A-Za-z0-9][A-Za-z0-9_.-]*)\s*/\s*)?(?:(?P<kind>run|dataset)\s*)?#?(?P<number>\d+)\s*$",
    re.IGNORECASE)


def run_label(number: int | None) -> str:
    """How a run is named to a person: ``run 3`` (a tuning trial, which has no number: ``trial``)."""
    return f"run {number}" if number is not None else "trial"


def dataset_label(number: int | None) -> str:
    return f"dataset {number}" if number is not None else "dataset"


def next_number(session: Session, model: type[DatasetVersion] | type[Run], project_id: int) -> int:
    """The number the next dataset version (or run) of the project gets: one more than the
    largest, in the caller's transaction.

    Two writers cannot both take the same one: on SQLite every write transaction begins
    IMMEDIATE, so the second waits for the first to commit before it reads the largest; on a
    server database the project row is locked (``FOR UPDATE``) for the rest of the
    transaction. The unique index on (project, number) is the backstop either way: a duplicate
    would fail the transaction, never be stored.
    """
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
    largest = session.scalar(select(func.max(model.number)).where(model.project_id == project_id))
    return (largest or 0) + 1


@dataclass(frozen=True)
class Reference:
    """What a person typed for a run or a dataset: a number, maybe with its project."""

    number: int
    project: str | None = None


def parse_reference(text: str | int, kind: Kind) -> Reference:
    """``3``, ``run 3``, ``cancer/run 3``, ``cancer/run3`` or ``cancer/3`` (for a dataset:
    ``dataset 2`` …); a clear error for anything else, or for the other kind's word."""
    if isinstance(text, int):
        return Reference(text)
    found = _REFERENCE.match(text)
    if found is None:
        raise WorkbenchError(f"'{text}' is not a {kind}: give its number in the project (e.g. 3), or "
                             f"PROJECT/{kind} N where no project is given (e.g. cancer/{kind} 3)")
    said = (found["kind"] or kind).lower()
    if said != kind:
        raise WorkbenchError(f"'{text}' names a {said}; a {kind} is expected here (e.g. {kind} 3)")
    return Reference(int(found["number"]), found["project"])


def _project_for(session: Session, ref: Reference, project: str | None, text: str | int, kind: Kind) -> Project:
    if ref.project is not None and project is not None and ref.project != project:
        raise WorkbenchError(f"'{text}' is a {kind} of project '{ref.project}', but this command is about "
                             f"project '{project}'")
    slug = ref.project or project
    if slug is None:
        raise WorkbenchError(f"which project's {kind} {ref.number}? Write it as PROJECT/{kind} {ref.number} "
                             f"(e.g. cancer/{kind} {ref.number})")
    return find_project(session, slug)


def row_for(session: Session, project: Project, kind: Kind, number: int) -> DatasetVersion | Run:
    """The project's dataset version (or run) with this number; NotFound names the numbers it has."""
    model = _MODELS[kind]
    row = session.scalars(select(model).where(model.project_id == project.id, model.number == number)).first()
    if row is None:
        numbers = list(session.scalars(select(model.number).where(model.project_id == project.id,
                                                                   model.number.is_not(None))
                                       .order_by(model.number)))
        have = (f"its {kind}s are {_ranges(numbers)}" if numbers else f"it has no {kind} yet")
        raise NotFound(f"project '{project.slug}' has no {kind} {number} ({have}); list them with "
                       f"`{_LISTING[kind].format(slug=project.slug)}`")
    return row


def resolve(wb: Workbench, kind: Kind, text: str | int, *, project: str | None = None) -> tuple[str, int]:
    """(project slug, internal id) of what a person typed for a ``kind``, in the context of
    ``project`` when the command names one."""
    ref = parse_reference(text, kind)
    with wb.read() as session:
        found = _project_for(session, ref, project, text, kind)
        return found.slug, row_for(session, found, kind, ref.number).id


def run_id(wb: Workbench, text: str | int, *, project: str | None = None) -> int:
    """The internal id of the run a person named (``3`` in ``project``'s context, ``cancer/run 3``)."""
    return resolve(wb, "run", text, project=project)[1]


def dataset_id(wb: Workbench, text: str | int | None, *, project: str | None = None) -> int | None:
    """The internal id of the dataset version a person named; None passes through (the latest)."""
    return None if text is None else resolve(wb, "dataset", text, project=project)[1]


def numbers_of(session: Session, kind: Kind, ids: set[int]) -> dict[int, int | None]:
    """id -> number of these rows (for views that name other rows)."""
    model = _MODELS[kind]
    if not ids:
        return {}
    return {row_id: number for row_id, number in session.execute(select(model.id, model.number).where(model.id.in_(ids)))}


def _ranges(numbers: list[int]) -> str:
    """``1–3, 5`` rather than a long list."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)
