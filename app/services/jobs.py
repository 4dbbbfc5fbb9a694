"""Job records: state transitions of background work, each audited.

Progress fractions are telemetry, not governance events: they are written to the job row
(throttled) without an audit event. Every change of *state* is audited.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
from app.services.workbench import UnitOfWork, Workbench, find_project
from storage.models import Job, Project, utcnow

ACTIVE = ("queued", "running")
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


#: Which face of the workbench this process is ("cli", "tui"), said once by the face itself
#: (``declare_face``); a job's owner carries it so the jobs list says who runs a job.
_face = ""


def declare_face(face: str) -> None:
    """Name this process's face (``mlwb`` verbs: "cli"; the TUI: "tui") for the jobs it owns."""
    global _face
    _face = face


def owner_tag() -> str:
    """``face@host:pid`` (``host:pid`` before a face is declared): who owns a job, and what
    start-up checks to tell a live owner from one a crash took away."""
    prefix = f"{_face}@" if _face else ""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}"


def _owner_parts(owner: str) -> tuple[str, str, str]:
    """(face, host, pid) of an owner tag; face is "" for tags written before faces were named."""
    where, _, pid = owner.rpartition(":")
    face, _, host = where.rpartition("@")
    return face, host, pid


def describe_owner(owner: str) -> str:
    """An owner tag as a person reads it: "cli pid 1234", "tui pid 99 on build-2"."""
    if not owner:
        return "-"
    face, host, pid = _owner_parts(owner)
    where = "" if host == socket.gethostname() else f" on {host}"
    return f"{face or 'process'} pid {pid}{where}"


@dataclass(frozen=True)
class JobView:
    id: int
    kind: str
    project: str | None
    state: str
    progress: float
    message: str
    error: str
    created_at: datetime
    finished_at: datetime | None
    started_at: datetime | None = None
    #: who queued it (the actor) and the process that runs it, as a person reads it ("cli pid 12")
    created_by: str = ""
    owner: str = "-"

    @property
    def duration_s(self) -> float | None:
        """Seconds it ran: until it finished, or until now while it runs; None if it never started."""
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return max(0.0, (_aware(end) - _aware(self.started_at)).total_seconds())

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "project": self.project, "state": self.state,
                "progress": self.progress, "message": self.message, "error": self.error,
                "queued_at": _iso(self.created_at), "started_at": _iso(self.started_at),
                "finished_at": _iso(self.finished_at), "duration_s": self.duration_s,
                "queued_by": self.created_by, "owner": self.owner}


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; the registry writes them in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat(timespec="seconds") if moment else None


def format_duration(seconds: float | None) -> str:
    """3.2s, 4m05s, 2h03m; "-" for a job that never started."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _job(uow: UnitOfWork, job_id: int) -> Job:
    job = uow.session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}: list jobs with `mlwb jobs`")
    return job


def create_job(wb: Workbench, kind: str, project_slug: str | None, params: dict[str, Any]) -> int:
    with wb.unit_of_work() as uow:
        project_id = uow.project(project_slug).id if project_slug else None
        job = Job(project_id=project_id, kind=kind, state="queued", params=params,
                  created_by=uow.actor, owner=owner_tag())
        uow.session.add(job)
        uow.session.flush()
        uow.audit("job.queued", "job", job.id, project=project_slug, kind=kind, params=params)
        return job.id


def _slug(uow: UnitOfWork, job: Job) -> str | None:
    return uow.session.get(Project, job.project_id).slug if job.project_id else None


def mark_running(wb: Workbench, job_id: int) -> None:
    """Claim a queued job for this process: only a job still queued can be claimed, so two
    processes (two workbenches sharing one PostgreSQL registry, say) never both run it.

    The check and the update are atomic because the unit of work holds the registry's writer
    lock (``storage.database``); ``FOR UPDATE`` also locks the row on PostgreSQL, so the claim
    stays atomic even for a writer that does not take that lock (SQLite ignores it)."""
    with wb.unit_of_work() as uow:
        job = uow.session.get(Job, job_id, with_for_update=True)
        if job is None:
            raise NotFound(f"no job {job_id}: list jobs with `mlwb jobs`")
        if job.state != "queued":
            raise WorkbenchError(f"job {job_id} is already {job.state} ({describe_owner(job.owner)}), so it was "
                                 "not started again: see `mlwb jobs`")
        job.state, job.started_at, job.owner = "running", utcnow(), owner_tag()
        uow.audit("job.started", "job", job.id, project=_slug(uow, job), kind=job.kind)


def record_progress(wb: Workbench, job_id: int, fraction: float, message: str) -> None:
    with wb.db.write() as session:
        job = session.get(Job, job_id)
        if job is not None and job.state == "running":
            job.progress, job.message = max(0.0, min(1.0, fraction)), message[:500]


def _finish(uow: UnitOfWork, job: Job, state: str, *, error: str = "", result: dict | None = None) -> None:
    job.state, job.finished_at, job.error = state, utcnow(), error
    if state == "succeeded":
        job.progress, job.message = 1.0, "done"
    if result is not None:
        job.result = result
    uow.audit(f"job.{state}", "job", job.id, project=_slug(uow, job), kind=job.kind,
              **({"error": error.splitlines()[0]} if error else {}), **({"result": result} if result else {}))


def complete_job(uow: UnitOfWork, job_id: int, result: dict[str, Any]) -> None:
    """Mark success inside the caller's unit of work, next to the records the job produced."""
    _finish(uow, _job(uow, job_id), "succeeded", result=result)


def mark_failed(wb: Workbench, job_id: int, error: str) -> None:
    with wb.unit_of_work() as uow:
        _finish(uow, _job(uow, job_id), "failed", error=error)


def mark_cancelled(wb: Workbench, job_id: int, reason: str) -> None:
    with wb.unit_of_work() as uow:
        _finish(uow, _job(uow, job_id), "cancelled", error=reason)


@dataclass(frozen=True)
class WorkbenchLedger:
    """The job records of one workbench as a runner's ``app.jobs.JobLedger``.

    Whoever builds a ``JobRunner`` (the TUI, the CLI, tests, benchmarks) passes one in, so the
    runner records job states without importing the services that use it.
    """

    wb: Workbench

    def mark_running(self, job_id: int) -> None:
        mark_running(self.wb, job_id)

    def record_progress(self, job_id: int, fraction: float, message: str) -> None:
        record_progress(self.wb, job_id, fraction, message)

    def mark_failed(self, job_id: int, error: str) -> None:
        mark_failed(self.wb, job_id, error)

    def mark_cancelled(self, job_id: int, reason: str) -> None:
        mark_cancelled(self.wb, job_id, reason)


def _owner_alive(owner: str, *, shared_registry: bool) -> bool:
    """Is the process that owns a job still there? Only a process on this machine can be asked.
    A job owned on another machine is taken as alive on a shared server registry (a team's
    PostgreSQL: that workbench is probably working on it, and recovers it itself when it next
    opens), but as gone on a SQLite file (a registry moved here from another machine)."""
    _, host, pid = _owner_parts(owner)
    if host != socket.gethostname():
        return shared_registry
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted(wb: Workbench) -> list[int]:
    """Mark jobs whose owning process is gone (a crash, a kill) as interrupted."""
    shared = not wb.db.is_sqlite
    with wb.read() as session:
        orphans = [j.id for j in session.scalars(select(Job).where(Job.state.in_(ACTIVE)))
                   if not _owner_alive(j.owner, shared_registry=shared)]
    for job_id in orphans:
        with wb.unit_of_work() as uow:
            job = _job(uow, job_id)
            if job.state in ACTIVE:
                _finish(uow, job, "interrupted", error="the workbench stopped while this job was running")
    return orphans


def list_jobs(wb: Workbench, *, project_slug: str | None = None, limit: int = 50) -> list[JobView]:
    with wb.read() as session:
        query = select(Job, Project.slug).outerjoin(Project, Job.project_id == Project.id)
        if project_slug:
            query = query.where(Job.project_id == find_project(session, project_slug).id)
        rows = session.execute(query.order_by(Job.id.desc()).limit(limit)).all()
        return [
            JobView(j.id, j.kind, slug, j.state, j.progress, j.message, j.error, _aware(j.created_at),
                    _aware(j.finished_at) if j.finished_at else None,
                    _aware(j.started_at) if j.started_at else None, j.created_by, describe_owner(j.owner))
            for j, slug in rows
        ]
