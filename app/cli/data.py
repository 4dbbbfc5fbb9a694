"""Stage 3 verbs of ``mlwb``: import dataset versions, check their quality and leakage, split
them, list them. Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import DATASET_HELP, add_json_option, add_project_verb, print_json
from app.cli.terminal import one_line
from app.cli.workspace import open_workspace


def add_parsers(sub: Any) -> None:
    data = sub.add_parser("data", help="import datasets and split them")
    dsub = data.add_subparsers(dest="data_verb", metavar="import|split|list", required=True)
    imp = add_project_verb(dsub, "import", help="import a CSV or Parquet file as a dataset version")
    imp.add_argument("file", type=Path)
    imp.add_argument("--target")
    imp.add_argument("--time-column", help="a date/time column: enables temporal splits and overlap checks")
    imp.add_argument("--json", action="store_true", help="print the dataset version and its findings as JSON")
    check = add_project_verb(dsub, "check", help="quality and leakage findings of a dataset version")
    check.add_argument("dataset", nargs="?", metavar="DATASET", help=DATASET_HELP + " (default: the latest)")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    split = add_project_verb(dsub, "split", help="train/validation/test split of a dataset, with leakage checks")
    split.add_argument("--dataset", metavar="DATASET", help=DATASET_HELP + " (default: the latest)")
    split.add_argument("--strategy", choices=("random", "stratified", "temporal", "group"),
                       help="default: stratified for classification with a target, else random")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--time-column", help="order for a temporal split")
    split.add_argument("--group-column", help="groups that must not straddle parts, for a group split")
    split.add_argument("--gap", type=int, default=0, help="rows left out between parts of a temporal split")
    add_json_option(split, "the split recorded, with its leakage findings")
    listing = add_project_verb(dsub, "list", help="list dataset versions (with warnings such as data imported "
                               "before the problem statement was approved)")
    listing.add_argument("--json", action="store_true", help="print the dataset versions as JSON")


def _version_json(v: Any) -> dict[str, Any]:
    return {"id": v.id, "number": v.number, "role": v.role, "source": v.source_name, "sha256": v.sha256, "rows": v.n_rows,
            "columns": v.n_columns, "target": v.target, "time_column": v.time_column,
            "created_at": v.created_at.isoformat(timespec="seconds"), "created_by": v.created_by,
            "findings": list(v.findings)}


def _cmd_data(args: argparse.Namespace) -> int:
    from app.services import datasets, numbering

    wb = open_workspace()
    if args.data_verb == "import":
        v = datasets.import_dataset(wb, args.project, args.file, target=args.target, time_column=args.time_column)
        for f in v.findings:
            if f["check"] == datasets.STAGE_ORDER_CHECK:
                print(f"warning: {args.project}: {numbering.dataset_label(v.number)} {f['detail']}; the warning stays with it",
                      file=sys.stderr)
        if args.json:
            print(json.dumps({**_version_json(v), "new": v.is_new}, indent=2, ensure_ascii=False))
            return 0
        note = "" if v.is_new else " (already imported: same bytes)"
        print(f"{numbering.dataset_label(v.number)} sha256 {v.sha256} rows {v.n_rows} columns {v.n_columns}{note}")
        for f in v.findings:
            print(f"  finding [{f['severity']}] {f['check']} {f.get('column') or ''}: {f['detail']}")
    elif args.data_verb == "check":
        result = datasets.check_dataset(wb, args.project, numbering.dataset_id(wb, args.dataset, project=args.project))
        if args.json:
            print(json.dumps(result.as_json(), indent=2))
        else:
            for f in result.quality:
                print(f"quality [{f['severity']}] {f['check']} {f.get('column') or ''}: {f['detail']}")
            for f in result.leakage:
                print(f"leakage [{f['severity']}] {f['check']} {f.get('feature') or ''}: {f['evidence']}")
            if not result.quality and not result.leakage:
                print("no findings")
    elif args.data_verb == "split":
        s = datasets.create_split(wb, args.project, dataset_id=numbering.dataset_id(wb, args.dataset, project=args.project),
                                  strategy=args.strategy, seed=args.seed,
                                  time_column=args.time_column, group_column=args.group_column, gap=args.gap)
        if args.json:
            print_json(s)
            return 0
        counts = ", ".join(f"{k} {v}" for k, v in s.counts.items())
        print(f"split {s.id} ({s.strategy}) of {numbering.dataset_label(s.dataset_number)}: {counts}; "
              f"fingerprint {s.fingerprint}")
        for f in s.leakage:
            print(f"  leakage [{f['severity']}] {f['check']} {f.get('feature') or ''}: {f['evidence']}")
    else:
        versions = datasets.list_datasets(wb, args.project)
        if args.json:
            print(json.dumps([_version_json(v) for v in versions], indent=2, ensure_ascii=False))
            return 0
        for v in versions:
            print(f"{v.number}\t{v.role}\t{one_line(v.source_name)}\t{v.n_rows}x{v.n_columns}\ttarget {v.target or '-'}\t{v.sha256}")
            for f in v.findings:
                if f["check"] == datasets.STAGE_ORDER_CHECK:
                    print(f"  warning: {f['detail']}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"data": _cmd_data}
