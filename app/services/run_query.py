"""Runs filtered, sorted and paged in SQL, so 100,000 runs cost what the 50 shown cost.

Why a promoted table and not JSON paths: a run's metrics are a JSON dict whose keys differ by
problem type and project (``val_roc_auc``, ``val_r2``, ``cv_ndcg_at_10_mean``, …). An index on a
JSON path (``json_extract(metrics, '$.val_roc_auc')``) has to be created per metric name, ahead
of time, and PostgreSQL spells it differently. ``run_metric`` (``storage.models.RunMetric``)
holds one row per (run, numeric metric), written by the ``Run`` mapper events, with one index
(project, name, value, run): any metric, in any project, is one index range already in value
order. "val_roc_auc > 0.8, best first, 50 of them" walks that range from its top and stops after
50 runs; nothing else is read. Parameters (``params.NAME``) are read from the run's JSON
(``json_extract``), unindexed: they narrow a query, they are not what 100,000 runs are sorted
by.

The filter grammar, small on purpose (the same as the runs screen's filter box)::

    query   := clause ( "and" clause )*
    clause  := FIELD OP VALUE | WORD
    OP      := = | != | > | >= | < | <= | ~          (~ : contains, text fields only)
    FIELD   := a metric name (val_roc_auc, cv_roc_auc_mean, test_roc_auc) or metrics.NAME
             | params.NAME                              (the run's parameters, e.g. params.max_depth)
             | run (its number in the project; also id) | model | author | experiment | seconds | baseline
    VALUE   := a number, a word, or 'quoted text'
    WORD    := a run number, model or author containing this text (what the screen's filter box types)

``or`` and parentheses are refused with an error that says so: run two queries. A metric clause
also requires the run to have that metric. Sorting takes one key, ``-`` first for descending:
a metric name, or ``id``, ``model``, ``author``, ``seconds``, ``created``, ``rung``, ``trials``.
Runs without the sort metric come after those with it (by id).

Pagination is keyset (``after`` = the ``next_cursor`` of the previous page), so page 2,000 costs
what page 1 costs; the runs screen reads the window it draws with ``offset``, which is cheap near
the top where people look and still bounded (an index walk, no row decoded) further down.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, and_, case, cast, exists, func, or_, select, tuple_
from sqlalchemy.orm import aliased

from app.errors import WorkbenchError
from app.ml.catalogue import RUNG_OF_KIND, RUNGS, rung_rank
from app.services.workbench import find_project
from storage.models import Experiment, Run, RunMetric

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.services.training import RunView
    from app.services.workbench import Workbench

MAX_LIMIT = 10_000
#: Sort keys that are columns of the run, not metrics.
COLUMN_SORTS = ("id", "model", "author", "seconds", "created", "rung", "trials")
TEXT_FIELDS = {"model": Run.model_kind, "kind": Run.model_kind, "author": Run.created_by,
               "created_by": Run.created_by, "experiment": Experiment.name}
# "run 3" is what a person sees and types (the number in the project); ids stay internal.
NUMBER_FIELDS = {"id": Run.number, "run": Run.number, "number": Run.number, "seconds": Run.duration_s, "duration": Run.duration_s}
OPERATORS = ("=", "==", "!=", ">", ">=", "<", "<=", "~")
_TOKEN = re.compile(r"\s*(?:(?P<quoted>'[^']*'|\"[^\"]*\")|(?P<op>>=|<=|!=|==|=|>|<|~)|(?P<word>[^\s=!<>~'\"]+))")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


class QueryError(WorkbenchError):
    """A filter or sort the grammar does not accept; the message names the bad token."""


@dataclass(frozen=True)
class Clause:
    field: str  # "" for a free-text WORD
    op: str
    value: str | float


@dataclass(frozen=True)
class RunPage:
    """One page of runs in query order, the cursor of the next page (None at the end), and the
    number of runs matching the filter when it was asked for."""

    runs: list[RunView]
    next_cursor: str | None
    total: int | None = None
    #: run id -> number of each run that a run of this page re-scores (``params.rescored_from``),
    #: so a screen can say "re-scores run 3" without a query of its own.
    rescored_numbers: dict[int, int] = field(default_factory=dict)


# --- the grammar ------------------------------------------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise QueryError(f"filter: cannot read {text[position:].strip()[:20]!r} at character {position + 1}; "
                             "quote text with spaces or symbols ('like this')")
        kind = match.lastgroup or "word"
        value = match.group(kind)
        out.append((kind, value[1:-1] if kind == "quoted" else value))
        position = match.end()
    return out


def parse_filter(text: str) -> list[Clause]:
    """The clauses of a filter (joined by ``and``); a ``QueryError`` names the first bad token."""
    tokens = _tokens(text or "")
    clauses: list[Clause] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "word" and value.lower() in ("or", "not") or kind == "word" and value[:1] in "()":
            raise QueryError(f"filter: {value!r} is not supported; clauses are joined by 'and' only "
                             "(run two queries for 'or')")
        if kind == "op":
            raise QueryError(f"filter: {value!r} needs a field before it, e.g. 'val_roc_auc {value} 0.8'")
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if nxt is not None and nxt[0] == "op":
            if kind == "quoted":
                raise QueryError(f"filter: a field name is a bare word, not {value!r}")
            op = "=" if nxt[1] == "==" else nxt[1]
            if i + 2 >= len(tokens) or tokens[i + 2][0] == "op":
                after = repr(tokens[i + 2][1]) if i + 2 < len(tokens) else "the end"
                raise QueryError(f"filter: '{value} {op}' needs a value, found {after}")
            raw = tokens[i + 2][1]
            clauses.append(Clause(value.lower() if not value.startswith(("params.", "metrics.")) else value, op,
                                  _typed(value, op, raw, quoted=tokens[i + 2][0] == "quoted")))
            i += 3
        else:
            clauses.append(Clause("", "~", value))
            i += 1
        if i < len(tokens):
            kind, value = tokens[i]
            if kind == "word" and value.lower() in ("or", "not"):
                raise QueryError(f"filter: {value!r} is not supported; clauses are joined by 'and' only "
                                 "(run two queries for 'or')")
            if not (kind == "word" and value.lower() == "and"):
                raise QueryError(f"filter: expected 'and' before {value!r}; clauses are joined by 'and'")
            i += 1
            if i == len(tokens):
                raise QueryError("filter: 'and' at the end needs a clause after it")
    return clauses


def _typed(field: str, op: str, raw: str, *, quoted: bool) -> str | float:
    lowered = field.lower()
    number = None if quoted or not _NUMBER.match(raw) else float(raw)
    if lowered in TEXT_FIELDS:
        if op not in ("=", "!=", "~"):
            raise QueryError(f"filter: {field} is text: compare it with =, != or ~ (contains), not {op!r}")
        return raw
    if lowered == "baseline":
        if op not in ("=", "!=") or raw.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise QueryError(f"filter: baseline takes = or != and true or false, not {op!r} {raw!r}")
        return float(raw.lower() in ("true", "yes", "1"))
    if field.startswith("params."):
        if op == "~" and number is not None:
            return raw
        if op in (">", ">=", "<", "<=") and number is None:
            raise QueryError(f"filter: {field} {op} needs a number, not {raw!r}")
        return raw if number is None else number
    if op == "~":
        raise QueryError(f"filter: {field} is a number: ~ (contains) is for text fields")
    if number is None:
        raise QueryError(f"filter: {field} compares with a number, not {raw!r}")
    return number


def _compare(column: Any, op: str, value: Any) -> Any:
    if op == "~":
        return column.ilike(f"%{value}%")
    return {"=": column == value, "!=": column != value, ">": column > value, ">=": column >= value,
            "<": column < value, "<=": column <= value}[op]


def _metric_name(field: str) -> str:
    return field[len("metrics."):] if field.startswith("metrics.") else field


# --- building the query -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Sort:
    key: str  # a column sort or a metric name
    descending: bool

    @property
    def is_metric(self) -> bool:
        return self.key not in COLUMN_SORTS


def parse_sort(text: str) -> _Sort:
    text = (text or "id").strip()
    descending = text.startswith("-")
    key = text.lstrip("-+").strip()
    if not key or not re.fullmatch(r"[A-Za-z0-9_.:@/-]+", key):
        raise QueryError(f"sort: {text!r} is not a column or metric name; e.g. -val_roc_auc or model")
    key = _metric_name(key)
    return _Sort({"created_by": "author", "kind": "model", "duration": "seconds"}.get(key, key), descending)


def _rung_order() -> Any:
    ranks = {kind: rung_rank(rung) for kind, rung in RUNG_OF_KIND.items()}
    return case(ranks, value=Run.model_kind, else_=len(RUNGS))


def _column_key(sort: _Sort) -> Any:
    return {
        "id": Run.id, "model": Run.model_kind, "author": Run.created_by, "seconds": Run.duration_s,
        "created": Run.created_at, "rung": _rung_order(),
        "trials": func.coalesce(Run.tuning["trials"].as_integer(), 0),
    }[sort.key]


def _check_metric(session: Session, project_id: int, name: str, where: str) -> None:
    if session.scalar(select(RunMetric.run_id).where(RunMetric.project_id == project_id, RunMetric.name == name)
                      .limit(1)) is None:
        known = session.scalars(select(RunMetric.name).where(RunMetric.project_id == project_id).distinct()
                                .limit(40)).all()
        hint = ", ".join(sorted(known)[:12]) or "none yet"
        raise QueryError(f"{where}: no run of this project has a metric {name!r} (metrics: {hint}; columns: "
                         f"{', '.join(COLUMN_SORTS)})")


def _base(session: Session, project_id: int, clauses: list[Clause], include_trials: bool,
          sort_metric: str | None) -> tuple[Any, Any]:
    """The filtered selection of (Run, experiment name) and the run_metric alias that holds the
    sort metric when a metric clause already joined it (else None)."""
    query = select(Run, Experiment.name).join(Experiment, Run.experiment_id == Experiment.id).where(
        Experiment.project_id == project_id)
    if not include_trials:
        query = query.where(Run.parent_run_id.is_(None))
    sort_alias = None
    for clause in clauses:
        field = clause.field
        if field == "":
            word = str(clause.value)
            query = query.where(or_(cast(Run.number, String).contains(word), Run.model_kind.ilike(f"%{word}%"),
                                    Run.created_by.ilike(f"%{word}%")))
        elif field in TEXT_FIELDS:
            query = query.where(_compare(TEXT_FIELDS[field], clause.op, clause.value))
        elif field in NUMBER_FIELDS:
            query = query.where(_compare(NUMBER_FIELDS[field], clause.op, clause.value))
        elif field == "baseline":
            wanted = bool(clause.value) == (clause.op == "=")
            query = query.where(Run.is_baseline.is_(wanted))
        elif field.startswith("params."):
            name = field[len("params."):]
            if not name:
                raise QueryError("filter: 'params.' needs a parameter name, e.g. params.max_depth")
            column = Run.params[name].as_float() if isinstance(clause.value, float) else Run.params[name].as_string()
            query = query.where(_compare(column, clause.op, clause.value))
        else:
            name = _metric_name(field)
            _check_metric(session, project_id, name, f"filter {field!r}")
            metric = aliased(RunMetric)
            query = query.join(metric, and_(metric.run_id == Run.id, metric.project_id == project_id,
                                            metric.name == name, _compare(metric.value, clause.op, clause.value)))
            if name == sort_metric and sort_alias is None:
                sort_alias = metric
    return query, sort_alias


def _encode(sort: _Sort, phase: int, value: Any, run_id: int) -> str:
    raw = json.dumps([("-" if sort.descending else "") + sort.key, phase, value, run_id], default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(sort: _Sort, cursor: str) -> tuple[int, Any, int]:
    try:
        key, phase, value, run_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):
        raise QueryError(f"--after {cursor!r} is not a cursor this command printed (next_cursor)") from None
    if key != ("-" if sort.descending else "") + sort.key:
        raise QueryError(f"--after: that cursor belongs to a query sorted by {key!r}, not this one; "
                         "keep the same --sort (and filter) while paging")
    return int(phase), value, int(run_id)


def query_runs(
    wb: Workbench,
    slug: str,
    where: str = "",
    sort: str = "id",
    *,
    limit: int = 50,
    after: str | None = None,
    offset: int = 0,
    include_trials: bool = False,
    with_total: bool = False,
    strict_sort: bool = True,
) -> RunPage:
    """One page of the project's runs matching ``where``, in ``sort`` order (see the module doc).

    ``after`` continues from a previous page's ``next_cursor`` (keyset); ``offset`` skips that
    many matching runs instead (the runs screen's scroll position). ``with_total`` also counts the
    matches (one more index walk). ``strict_sort`` False lets a sort by a metric no run has yet
    (the screen's test column before any test set is opened) list the runs by id instead of
    refusing, as a typo on the command line is refused.
    """
    from app.services.training import run_views

    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"--limit must be between 1 and {MAX_LIMIT:,}, not {limit}")
    if offset < 0:
        raise QueryError(f"offset must be 0 or more, not {offset}")
    clauses = parse_filter(where)
    order = parse_sort(sort)
    with wb.read() as session:
        project = find_project(session, slug)
        pid = project.id
        if order.is_metric:
            if strict_sort:
                _check_metric(session, pid, order.key, f"sort {sort!r}")
        base, joined = _base(session, pid, clauses, include_trials, order.key if order.is_metric else None)
        total = None
        if with_total:
            total = session.scalar(select(func.count()).select_from(base.with_only_columns(Run.id).subquery()))
        start = _decode(order, after) if after else None
        rows: list[tuple[Any, str, Any, int]] = []  # (run, experiment, sort value, phase)

        def fetch(query: Any, key: Any, phase: int, skip: int, want: int, bound: tuple[Any, int] | None) -> None:
            if bound is not None:
                newer = tuple_(key, Run.id) < tuple_(*bound) if order.descending else tuple_(key, Run.id) > tuple_(*bound)
                query = query.where(newer)
            direction = (key.desc(), Run.id.desc()) if order.descending else (key.asc(), Run.id.asc())
            query = query.add_columns(key).order_by(*direction).offset(skip or None).limit(want)
            for run, experiment, value in session.execute(query).all():
                rows.append((run, experiment, value, phase))

        if not order.is_metric:
            key = _column_key(order)
            fetch(base, key, 0, offset, limit, (start[1], start[2]) if start else None)
        else:
            # Phase 0: runs with the metric, in value order (one index range); phase 1: the rest.
            if joined is None:
                joined = aliased(RunMetric)
                with_metric = base.join(joined, and_(joined.run_id == Run.id, joined.project_id == pid,
                                                     joined.name == order.key))
            else:
                with_metric = base
            missing = None if any(_metric_name(c.field) == order.key for c in clauses) else base.where(~exists(
                select(RunMetric.run_id).where(RunMetric.run_id == Run.id, RunMetric.name == order.key)))
            skip_missing = 0
            if start is None or start[0] == 0:
                fetch(with_metric, joined.value, 0, offset, limit,
                      (start[1], start[2]) if start else None)
                if offset and len(rows) < limit:
                    skipped = session.scalar(select(func.count()).select_from(
                        with_metric.with_only_columns(Run.id).subquery()))
                    skip_missing = max(0, offset - (skipped or 0))
            if missing is not None and len(rows) < limit:
                bound = (start[2], start[2]) if start and start[0] == 1 else None
                fetch(missing, Run.id, 1, skip_missing, limit - len(rows), bound)
        runs = run_views(session, [(run, experiment) for run, experiment, _, _ in rows])
        originals = {r.params["rescored_from"] for r in runs if isinstance((r.params or {}).get("rescored_from"), int)}
        rescored = dict(session.execute(select(Run.id, Run.number).where(Run.id.in_(originals))).all()
                        ) if originals else {}
        next_cursor = None
        if len(rows) == limit:
            run, _, value, phase = rows[-1]
            next_cursor = _encode(order, phase, value.isoformat() if hasattr(value, "isoformat") else value, run.id)
        return RunPage(runs, next_cursor, total, {k: v for k, v in rescored.items() if v is not None})


def count_runs(wb: Workbench, slug: str, where: str = "", *, include_trials: bool = False) -> int:
    """How many of the project's runs match ``where``: the runs screen asks for it after it has
    shown the first window, so the rows are on screen before the count (an index walk over
    every match) is done."""
    clauses = parse_filter(where)
    with wb.read() as session:
        project = find_project(session, slug)
        base, _ = _base(session, project.id, clauses, include_trials, None)
        return int(session.scalar(select(func.count()).select_from(base.with_only_columns(Run.id).subquery())) or 0)


def run_trials(wb: Workbench, slug: str, run_id: int) -> list[RunView]:
    """The tuning trials (child runs) of one run, in trial order: the runs screen's detail pane."""
    from app.services.training import run_views

    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.execute(
            select(Run, Experiment.name).join(Experiment, Run.experiment_id == Experiment.id)
            .where(Experiment.project_id == project.id, Run.parent_run_id == run_id).order_by(Run.id)).all()
        return run_views(session, rows)


def run_with_trials(wb: Workbench, slug: str, run_id: int) -> tuple[RunView, list[RunView]]:
    """One run of the project and its tuning trials: the runs screen's detail pane, re-read
    after a change (a test score) when the run may be outside the window the table holds."""
    from app.services.training import run_views

    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.execute(
            select(Run, Experiment.name).join(Experiment, Run.experiment_id == Experiment.id)
            .where(Experiment.project_id == project.id, or_(Run.id == run_id, Run.parent_run_id == run_id))
            .order_by(Run.id)).all()
        views = run_views(session, rows)
        run = next((v for v in views if v.id == run_id), None)
        if run is None:
            raise QueryError(f"{slug!r} has no run with id {run_id}; reload the runs screen (r)")
        return run, [v for v in views if v.parent_run_id == run_id]


@dataclass(frozen=True)
class RunCounts:
    """How many runs and tuning trials a project has, and the problem type they are judged by."""

    runs: int
    trials: int
    problem_type: str


def run_counts(wb: Workbench, slug: str) -> RunCounts:
    with wb.read() as session:
        project = find_project(session, slug)
        top, trials = session.execute(
            select(func.count(Run.id).filter(Run.parent_run_id.is_(None)),
                   func.count(Run.id).filter(Run.parent_run_id.is_not(None)))
            .join(Experiment, Run.experiment_id == Experiment.id).where(Experiment.project_id == project.id)).one()
        return RunCounts(int(top or 0), int(trials or 0), project.problem_type)
