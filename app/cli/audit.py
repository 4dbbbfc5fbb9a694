"""Workspace record verbs of ``mlwb``: verify and list the audit trail, and list the background
jobs (what ran, and how it ended). Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import add_json_option, add_key_option, print_json
from app.cli.terminal import one_line
from app.cli.workspace import open_workspace, signer
from app.errors import WorkbenchError


def add_parsers(sub: Any) -> None:
    audit = sub.add_parser("audit", help="verify or list the audit trail, or rotate its key")
    asub = audit.add_subparsers(dest="audit_verb", metavar="verify|log|anchor|rotate-key", required=True)
    verify = asub.add_parser("verify", help="check every link of the hash chain")
    verify.add_argument("--checkpoint", type=Path, metavar="FILE",
                        help="also prove the chain still holds the head of a checkpoint `mlwb audit anchor` wrote")
    add_json_option(verify, "the verdicts (chain, governed rows, checkpoint) with the evidence digest; "
                            "the exit code is the same")
    anchor = asub.add_parser("anchor", help="a signed checkpoint of the chain's head, to keep outside the workspace")
    anchor.add_argument("--out", type=Path, metavar="FILE", help="write it here (default: print it)")
    add_key_option(anchor)
    rotate = asub.add_parser("rotate-key", help="replace the audit key with a new one, recorded in the chain (admins "
                             "only once people are registered); the old key is kept to verify the events it wrote")
    add_json_option(rotate, "the rotation (event, key ids, where each key is kept)")
    alog = asub.add_parser("log", help="list recent events")
    alog.add_argument("--project")
    alog.add_argument("--limit", type=int, default=30)
    add_json_option(alog, "the events (a list, newest first)")

    jobs = sub.add_parser("jobs", help="list recent background jobs: state, start, duration, who queued them "
                          "and the process (cli or tui) that ran them")
    jobs.add_argument("--project")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON")


def _cmd_audit(args: argparse.Namespace) -> int:
    from app.services import audit_trail, state_binding

    wb = open_workspace()
    if args.audit_verb == "anchor":
        return _anchor(wb, args)
    if args.audit_verb == "rotate-key":
        return _rotate_key(wb, as_json=args.json)
    if args.audit_verb == "verify":
        verdict, digest = audit_trail.verify_with_digest(wb)
        if args.json:
            return _verify_json(wb, args, verdict, digest)
        print(verdict.describe(), file=sys.stdout if verdict.ok else sys.stderr)
        if verdict.ok:  # what a report built now prints, and an exported bundle's manifest records
            print(f"evidence digest {digest}")
        rows = state_binding.verify_workspace_rows(wb)
        print("\n".join(rows.lines()), file=sys.stdout if rows.ok else sys.stderr)
        ok = verdict.ok and rows.ok
        if args.checkpoint is not None:
            from app.services.checkpoint import check_checkpoint

            checked = check_checkpoint(wb, args.checkpoint)
            print("\n".join(checked.lines), file=sys.stdout if checked.ok else sys.stderr)
            ok = ok and checked.ok
        return 0 if ok else 1
    events = audit_trail.recent_events(wb, project=args.project, limit=args.limit)
    if args.json:
        print_json(events)
        return 0
    for e in events:
        print(f"{e.seq}\t{e.ts}\t{e.actor}\t{e.action}\t{e.project or '-'}\t{e.summary}")
    return 0


def _verify_json(wb: Any, args: argparse.Namespace, verdict: Any, digest: str) -> int:
    """`audit verify --json`: one document for a CI step to keep, exit 0 only when all holds."""
    from app.services import state_binding

    rows = state_binding.verify_workspace_rows(wb)
    document: dict[str, Any] = {
        "ok": verdict.ok and rows.ok, "chain": verdict, "describe": verdict.describe(),
        "evidence_digest": digest if verdict.ok else None,
        "rows": {"ok": rows.ok, "checked": rows.checked, "problems": [p.describe() for p in rows.problems]},
        "checkpoint": None,
    }
    if args.checkpoint is not None:
        from app.services.checkpoint import check_checkpoint

        checked = check_checkpoint(wb, args.checkpoint)
        document["checkpoint"] = checked
        document["ok"] = document["ok"] and checked.ok
    print_json(document)
    return 0 if document["ok"] else 1


def _anchor(wb: Any, args: argparse.Namespace) -> int:
    from app.services.checkpoint import make_checkpoint

    text = json.dumps(make_checkpoint(wb, signer(args.key)), indent=2) + "\n"
    if args.out is None:
        print(text, end="")
        return 0
    try:
        with open(args.out, "x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise WorkbenchError(f"{args.out} exists: choose another file (a checkpoint is never overwritten)") from None
    except OSError as exc:
        raise WorkbenchError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"wrote {args.out}: keep it outside the workspace; `mlwb audit verify --checkpoint {args.out}` checks it")
    return 0


def _rotate_key(wb: Any, *, as_json: bool) -> int:
    from app.services.audit_key import rotate_key

    done = rotate_key(wb)
    if as_json:  # the back-up warning still reaches the person, on stderr
        print_json(done)
        print("Back up the new key and the retired keys now: without them the events they wrote cannot be "
              "verified.", file=sys.stderr)
        return 0
    print(f"audit key rotated at event {done.seq} by {done.actor}")
    print(f"new key   id {done.new_key_id}, kept in {done.store}; it MACs every event after {done.seq}")
    print(f"old key   id {done.old_key_id}, retired to {done.retired_store}; "
          f"it verifies events {done.old_from_seq}-{done.seq}")
    print("Back up the new key and the retired keys now: without them the events they wrote cannot be verified.")
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from app.services import jobs

    rows = jobs.list_jobs(open_workspace(), project_slug=args.project, limit=args.limit)
    if args.json:
        print(json.dumps([j.as_json() for j in rows], indent=2))
        return 0
    if rows:
        print("job\tkind\tstate\tprogress\tproject\tstarted (local)\tduration\tqueued by\towner\terror")
    for j in rows:
        started = j.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if j.started_at else "not started"
        error = one_line(j.error.splitlines()[0]) if j.error else ""
        print(f"{j.id}\t{j.kind}\t{j.state}\t{j.progress:.0%}\t{j.project or '-'}\t{started}\t"
              f"{jobs.format_duration(j.duration_s)}\t{j.created_by}\t{j.owner}\t{error}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"audit": _cmd_audit, "jobs": _cmd_jobs}
