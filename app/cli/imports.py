"""``mlwb import mlflow``: bring another tracker's runs and registry facts into a project.
Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from app.cli.arguments import DATASET_HELP, add_json_option, print_json
from app.cli.workspace import open_workspace


def add_parsers(sub: Any) -> None:
    verb = sub.add_parser("import", help="import runs from another tracker (`mlwb import mlflow PATH --project P`)")
    sources = verb.add_subparsers(dest="source", metavar="SOURCE", required=True)
    mlflow = sources.add_parser(
        "mlflow", help="runs, params, metric histories, tags and registered model versions of an MLflow store",
        description="Reads an MLflow tracking store without MLflow: an `mlruns/` folder, an MLflow SQLite .db "
                    "file, or a database URL (postgresql+psycopg://…). Model files are not imported (MLflow "
                    "pickles scikit-learn models); registered versions are recorded as facts. Importing again "
                    "adds only what is new.")
    mlflow.add_argument("store", metavar="PATH_OR_URI", help="an mlruns/ folder, an MLflow .db file, or a database URL")
    mlflow.add_argument("--project", required=True, help="the project the runs are imported into")
    mlflow.add_argument("--experiment", metavar="NAME", help="only this MLflow experiment (default: all)")
    mlflow.add_argument("--dataset", metavar="DATASET",
                        help=DATASET_HELP + "; the runs are filed under it (default: the newest training data)")
    add_json_option(mlflow, "the import (runs and registered versions, new or already imported)")


def _cmd_import(args: argparse.Namespace) -> int:
    from app.services.mlflow_import import import_mlflow

    result = import_mlflow(open_workspace(), args.project, args.store, experiment=args.experiment,
                           dataset=args.dataset)
    if args.json:
        print_json({**_fields(result), "summary": result.summary})
        return 0
    print(f"imported from MLflow ({result.store_kind} {result.store}) into {result.project}, filed under dataset "
          f"{result.dataset_number}, split {result.split_id}")
    print(f"  {result.summary}")
    for run in result.runs:
        where = f"run {run.run_number}" if run.run_number is not None else "run ?"
        print(f"  {'new ' if run.new else 'had '} {where:8} MLflow {run.mlflow_run_id} "
              f"({run.experiment}/{run.name or 'unnamed'}): {run.model_note}")
    for v in result.versions:
        aliases = f" @{', @'.join(v.aliases)}" if v.aliases else ""
        source = f"run {v.run_number}" if v.run_number is not None else f"MLflow run {v.mlflow_run_id}"
        print(f"  {'new ' if v.new else 'had '} {v.name} v{v.version}{aliases} from {source} "
              "(a registry fact: no model file, not promotable)")
    for note in result.skipped:
        print(f"  skipped: {note}")
    print("  metrics are MLflow's (prefixed mlflow.), computed on data the workbench did not see: not comparable "
          "with the workbench's runs until re-scored, which needs a model")
    return 0


def _fields(result: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(result)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"import": _cmd_import}
