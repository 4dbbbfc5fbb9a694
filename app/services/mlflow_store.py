"""Read an MLflow tracking store as plain data, without MLflow: its documented layout.

Two kinds of store, one result (``MlflowStore``):

- a *file store* (an ``mlruns/`` folder): ``<experiment>/meta.yaml``, ``<experiment>/<run>/meta.yaml``
  with ``params/``, ``metrics/`` (one line per point: "timestamp value step") and ``tags/`` (one
  file per key, a key with "/" in a sub-folder); MLflow 3's logged models under
  ``<experiment>/models/<model id>/``; the registry under ``models/<name>/`` (``meta.yaml`` with
  the aliases, ``version-<n>/meta.yaml``);
- a *database* (MLflow's SQLAlchemy schema: ``experiments``, ``runs``, ``params``, ``metrics``,
  ``tags``, ``registered_models``, ``model_versions``, ``registered_model_aliases``,
  ``logged_models``), a SQLite file or any SQLAlchemy URL (PostgreSQL included): only ``SELECT``.

Nothing here loads a model: an MLflow model's ``MLmodel`` file is read (YAML, ``safe_load``) to say
how the model was stored, and the model file itself is never opened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from app.errors import WorkbenchError

# The file store writes a run's status as MLflow's RunStatus enum number.
_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
SQL_TABLES = ("experiments", "runs", "params", "metrics", "tags")


class NotAnMlflowStore(WorkbenchError):
    """The path or URL is not an MLflow tracking store this reader understands."""


@dataclass(frozen=True)
class MlflowModel:
    """A model MLflow logged for a run: where, and how it was serialised (never loaded)."""

    model_id: str
    flavors: tuple[str, ...]
    serialization_format: str | None  # the sklearn flavor's "pickle", "cloudpickle" or "skops"; None unknown
    model_file: str | None


@dataclass
class MlflowRun:
    run_id: str
    experiment_id: str
    experiment: str
    name: str | None
    status: str
    user: str | None
    start_time: int | None  # ms since the epoch, as MLflow stores it
    end_time: int | None
    params: dict[str, str] = field(default_factory=dict)
    # every point of every metric: (timestamp ms, value, step)
    metrics: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    models: list[MlflowModel] = field(default_factory=list)

    def latest(self) -> dict[str, float]:
        """Each metric's latest finite value as MLflow picks it (highest step, then timestamp)."""
        out: dict[str, float] = {}
        for key, points in self.metrics.items():
            finite = [p for p in points if math.isfinite(p[1])]
            if finite:
                out[key] = max(finite, key=lambda p: (p[2], p[0], p[1]))[1]
        return out


@dataclass(frozen=True)
class MlflowModelVersion:
    name: str
    version: int
    run_id: str | None
    source: str | None
    status: str | None
    stage: str | None
    description: str | None
    aliases: tuple[str, ...]
    created: int | None


@dataclass
class MlflowStore:
    location: str
    kind: str  # "file" | "database"
    experiments: dict[str, str]  # id -> name (active experiments only)
    runs: list[MlflowRun]
    model_versions: list[MlflowModelVersion]
    deleted_runs: int = 0


def read_store(location: str | Path) -> MlflowStore:
    """The store at ``location``: an ``mlruns`` folder, a ``.db`` SQLite file, or a SQLAlchemy URL."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        return _read_sql(text, _without_password(text))
    path = Path(unquote(urlparse(text).path) if text.startswith("file://") else text).expanduser()
    if path.is_dir():
        return _read_folder(path)
    if path.is_file():
        with open(path, "rb") as head:
            magic = head.read(16)
        if magic != b"SQLite format 3\x00":
            raise NotAnMlflowStore(f"{path} is neither an MLflow `mlruns/` folder nor an MLflow SQLite database: "
                                   "give the folder MLflow tracked into, or its .db file")
        return _read_sql(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true", str(path))
    raise NotAnMlflowStore(f"no file or folder at {path}: give an MLflow `mlruns/` folder, an MLflow .db file, "
                           "or a database URL (postgresql+psycopg://…)")


def looks_like_file_store(folder: Path) -> bool:
    """Cheap guess for a file picker: a folder named ``mlruns``, or one whose default experiment
    (``0/meta.yaml``) or registry (``models/``) MLflow wrote. ``read_store`` decides for real."""
    return folder.name == "mlruns" or (folder / "0" / "meta.yaml").is_file() or (
        (folder / "models").is_dir() and any(folder.glob("*/meta.yaml")))


def _without_password(url: str) -> str:
    """The URL as messages, the run and the audit trail show it: never with its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        raise NotAnMlflowStore(f"{url.split('://')[0]}://… is not a database URL this reader takes: give an "
                               "`mlruns/` folder, an MLflow .db file, or a SQLAlchemy URL "
                               "(postgresql+psycopg://user@host/db)") from None


# --- the file store ------------------------------------------------------------------------------------


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise NotAnMlflowStore(f"{path} is not a readable MLflow meta.yaml ({exc})") from None
    return data if isinstance(data, dict) else {}


def _key_files(folder: Path) -> dict[str, str]:
    """``params/`` or ``tags/``: one file per key (keys with "/" live in sub-folders)."""
    if not folder.is_dir():
        return {}
    return {f.relative_to(folder).as_posix(): f.read_text(encoding="utf-8")
            for f in sorted(folder.rglob("*")) if f.is_file()}


def _metric_lines(folder: Path) -> dict[str, list[tuple[int, float, int]]]:
    out: dict[str, list[tuple[int, float, int]]] = {}
    if not folder.is_dir():
        return out
    for f in sorted(folder.rglob("*")):
        if not f.is_file():
            continue
        points = []
        for number, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                points.append((int(parts[0]), float(parts[1]), int(parts[2]) if len(parts) > 2 else 0))
            except (ValueError, IndexError):
                raise NotAnMlflowStore(f"{f} line {number} is not 'timestamp value step': {line[:80]!r}") from None
        # the same point twice (MLflow 3's file store appends a run's metrics again when a model
        # is logged): the database keys a point by (key, timestamp, step, value), so it counts once
        out[f.relative_to(folder).as_posix()] = sorted(set(points), key=lambda p: (p[2], p[0]))
    return out


def _mlmodel(artifacts: Path, model_id: str) -> MlflowModel:
    flavors: dict[str, Any] = {}
    if (artifacts / "MLmodel").is_file():
        flavors = _yaml(artifacts / "MLmodel").get("flavors") or {}
    return _model_of(model_id, flavors)


def _model_of(model_id: str, flavors: dict[str, Any]) -> MlflowModel:
    sklearn = flavors.get("sklearn") or {}
    pyfunc = flavors.get("python_function") or {}
    fmt = sklearn.get("serialization_format")
    model_file = sklearn.get("pickled_model") or pyfunc.get("model_path")
    if fmt is None and model_file and str(model_file).endswith((".pkl", ".pickle", ".joblib")):
        fmt = "pickle"
    return MlflowModel(model_id, tuple(sorted(flavors)), fmt, model_file)


def _read_folder(root: Path) -> MlflowStore:
    experiments: dict[str, str] = {}
    for meta in sorted(root.glob("*/meta.yaml")):
        data = _yaml(meta)
        if "experiment_id" in data and data.get("lifecycle_stage", "active") == "active":
            experiments[str(data["experiment_id"])] = str(data.get("name"))
    if not experiments:
        raise NotAnMlflowStore(f"{root} holds no MLflow experiment (no <id>/meta.yaml with an experiment_id): "
                               "give the `mlruns/` folder MLflow tracked into")
    models: dict[str, list[MlflowModel]] = {}
    for meta in sorted(root.glob("*/models/*/meta.yaml")):
        data = _yaml(meta)
        if data.get("source_run_id"):
            models.setdefault(str(data["source_run_id"]), []).append(
                _mlmodel(meta.parent / "artifacts", str(data.get("model_id") or meta.parent.name)))
    runs, deleted = [], 0
    for exp_id, exp_name in experiments.items():
        for meta in sorted((root / exp_id).glob("*/meta.yaml")):
            data = _yaml(meta)
            if "run_id" not in data and "run_uuid" not in data:
                continue
            if data.get("lifecycle_stage") == "deleted":
                deleted += 1
                continue
            folder = meta.parent
            run_id = str(data.get("run_id") or data.get("run_uuid"))
            status = data.get("status")
            run = MlflowRun(
                run_id, exp_id, exp_name, data.get("run_name") or None,
                _STATUS.get(status, str(status)) if isinstance(status, int) else str(status),
                data.get("user_id") or None, data.get("start_time"), data.get("end_time"),
                _key_files(folder / "params"), _metric_lines(folder / "metrics"), _key_files(folder / "tags"),
                list(models.get(run_id, [])))
            # MLflow 2 kept a run's models among its artifacts
            for mlmodel in sorted((folder / "artifacts").rglob("MLmodel")):
                run.models.append(_mlmodel(mlmodel.parent, mlmodel.parent.relative_to(folder).as_posix()))
            runs.append(run)
    versions = []
    for meta in sorted(root.glob("models/*/meta.yaml")):
        registered = _yaml(meta)
        aliases: dict[str, list[str]] = {}
        for alias, version in (registered.get("aliases") or {}).items():
            aliases.setdefault(str(version), []).append(str(alias))
        for alias_file in sorted((meta.parent / "aliases").glob("*")):  # older layouts: one file per alias
            if alias_file.is_file():
                aliases.setdefault(alias_file.read_text(encoding="utf-8").strip(), []).append(alias_file.name)
        for vmeta in sorted(meta.parent.glob("version-*/meta.yaml")):
            v = _yaml(vmeta)
            number = str(v.get("version"))
            versions.append(MlflowModelVersion(
                str(v.get("name") or registered.get("name")), int(number), v.get("run_id") or None,
                v.get("source"), v.get("status"), v.get("current_stage"), v.get("description"),
                tuple(sorted(set(aliases.get(number, [])))), v.get("creation_timestamp")))
    return MlflowStore(str(root), "file", experiments, runs, versions, deleted)


# --- a database -----------------------------------------------------------------------------------------


def _read_sql(url: str, shown: str) -> MlflowStore:
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        engine = create_engine(url)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise NotAnMlflowStore(f"cannot open {shown} as a database ({exc})") from None
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            missing = [t for t in SQL_TABLES if t not in tables]
            if missing:
                raise NotAnMlflowStore(f"{shown} is a database but not an MLflow tracking store (no table "
                                       f"{', '.join(missing)}): give the database MLflow's server or client wrote")

            def rows(sql: str) -> list[Any]:
                return list(connection.execute(text(sql)))

            experiments = {str(r[0]): str(r[1]) for r in rows(
                "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active' ORDER BY experiment_id")}
            runs: dict[str, MlflowRun] = {}
            deleted = 0
            for r in rows("SELECT run_uuid, experiment_id, name, status, user_id, start_time, end_time, "
                          "lifecycle_stage FROM runs ORDER BY start_time, run_uuid"):
                if r[7] == "deleted" or str(r[1]) not in experiments:
                    deleted += r[7] == "deleted"
                    continue
                runs[r[0]] = MlflowRun(r[0], str(r[1]), experiments[str(r[1])], r[2] or None, str(r[3]), r[4] or None,
                                       r[5], r[6])
            for run_id, key, value in rows("SELECT run_uuid, key, value FROM params ORDER BY key"):
                if run_id in runs:
                    runs[run_id].params[key] = value
            for run_id, key, value in rows("SELECT run_uuid, key, value FROM tags ORDER BY key"):
                if run_id in runs:
                    runs[run_id].tags[key] = value
            for run_id, key, value, ts, step, is_nan in rows(
                    "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics ORDER BY key, step, timestamp"):
                if run_id in runs:
                    runs[run_id].metrics.setdefault(key, []).append(
                        (int(ts or 0), math.nan if is_nan else float(value), int(step or 0)))
            if "logged_models" in tables:
                for model_id, run_id, location in rows(
                        "SELECT model_id, source_run_id, artifact_location FROM logged_models ORDER BY model_id"):
                    if run_id in runs:
                        runs[run_id].models.append(_sql_model(model_id, location))
            versions = _sql_versions(rows, tables)
    except SQLAlchemyError as exc:
        raise NotAnMlflowStore(f"cannot read {shown} as an MLflow store ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0]})") from None
    finally:
        engine.dispose()
    return MlflowStore(shown, "database", experiments, list(runs.values()), versions, deleted)


def _sql_model(model_id: str, location: str | None) -> MlflowModel:
    """A logged model of a database store: its ``MLmodel`` is read when its artifact folder is a
    local path that exists; otherwise its format is unknown (and it is not imported either way)."""
    if location and location.startswith("file://"):
        folder = Path(unquote(urlparse(location).path))
        if (folder / "MLmodel").is_file():
            return _mlmodel(folder, model_id)
    return MlflowModel(model_id, (), None, None)


def _sql_versions(rows: Any, tables: set[str]) -> list[MlflowModelVersion]:
    if "model_versions" not in tables:
        return []
    aliases: dict[tuple[str, str], list[str]] = {}
    if "registered_model_aliases" in tables:
        for alias, version, name in rows("SELECT alias, version, name FROM registered_model_aliases"):
            aliases.setdefault((name, str(version)), []).append(alias)
    return [MlflowModelVersion(r[0], int(r[1]), r[2] or None, r[3], r[4], r[5], r[6],
                               tuple(sorted(aliases.get((r[0], str(r[1])), []))), r[7])
            for r in rows("SELECT name, version, run_id, source, status, current_stage, description, creation_time "
                          "FROM model_versions ORDER BY name, version")]
