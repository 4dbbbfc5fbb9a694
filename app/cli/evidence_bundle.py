"""Evidence bundle verbs of ``mlwb``: ``export`` (needs the workspace) and ``verify-bundle``
(needs only the bundle: it must run on a reviewer's machine that has no workspace, so it never
opens one). Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import add_json_option, add_project_verb, print_json
from app.cli.workspace import open_workspace


def add_parsers(sub: Any) -> None:
    export = add_project_verb(
        sub, "export", help="write a project's evidence bundle (report PDF, evidence, audit trail, signatures, "
                            "manifest)",
        description="Write the compliance PDF, the evidence it shows (JSON and one CSV per table), the audit "
                    "chain up to the head the PDF prints (this project's events in full, every other event as a "
                    "hash-only placeholder), the signed decisions with the signers' public keys, and a manifest "
                    "of SHA-256 hashes to a new folder, or to a .zip when OUT ends in .zip. The manifest and a "
                    "checkpoint of the head are signed with your registered key (`mlwb people init`), and the "
                    "export is recorded as a bundle.exported audit event naming the manifest's SHA-256.")
    export.add_argument("--out", type=Path, required=True, metavar="DIR_OR_ZIP",
                        help="a new (or empty) folder, or a file name ending in .zip")
    add_json_option(export, "the bundle written (path, hashes, signer, audit event)")

    verify = sub.add_parser(
        "verify-bundle", help="check an evidence bundle offline (no workspace needed)",
        description="Check a bundle written by `mlwb export`: the exporter's signature over the manifest (by a "
                    "key the chain registered), file hashes and sizes, the audit chain's links, "
                    "the evidence digest, the head printed in the PDF, and every signed decision against the "
                    "public keys the bundle carries (then each signer's full fingerprint, to compare with the "
                    "key its owner gave you), and the signed checkpoint. Without the workspace's audit key it "
                    "cannot check the events' HMACs: `mlwb audit verify --checkpoint` with the bundle's "
                    "checkpoint.json in the source workspace proves the chain still holds its head. Exit 0 "
                    "when every check passes, 1 when one fails or is inconclusive (an unsigned manifest), 2 "
                    "when PATH is not a bundle.")
    verify.add_argument("path", type=Path, metavar="PATH", help="the bundle folder or .zip")


def _cmd_export(args: argparse.Namespace) -> int:
    from app.services.evidence_bundle import export_bundle

    b = export_bundle(open_workspace(), args.project, args.out)
    if args.json:
        print_json(b)
        return 0
    print(f"wrote {b.path}: {b.files} files and the manifest, {b.events} audit events ({b.placeholders} as "
          f"placeholders); audit chain head {b.head_seq} "
          f"{b.head_hash}; evidence digest {b.evidence_digest}")
    print(f"signed with key {b.signer_fingerprint}: manifest SHA-256 {b.manifest_sha256} and the checkpoint of "
          f"event {b.head_seq}; recorded as audit event {b.event_seq} (bundle.exported)")
    return 0


def _cmd_verify_bundle(args: argparse.Namespace) -> int:
    from app.bundle_verify import verify_bundle

    verdict = verify_bundle(args.path)
    for check in verdict.checks:
        print(check.line())
    for signer in verdict.signers:  # full fingerprints: compare them with the keys given out of band
        print(signer.line())
    print(verdict.summary())
    return 0 if verdict.ok else 1


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export": _cmd_export, "verify-bundle": _cmd_verify_bundle,
}
