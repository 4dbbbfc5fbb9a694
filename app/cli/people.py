"""``mlwb people``: my signing key, and the people (public keys with roles) a workspace knows.

Errors surface through ``app.cli.main``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import add_json_option, print_json
from app.cli.workspace import open_workspace
from app.errors import WorkbenchError


def add_parsers(sub: Any) -> None:
    people = sub.add_parser("people", help="signing keys: create yours, register others, list who is known")
    psub = people.add_subparsers(dest="people_verb", metavar="init|add|list|whoami", required=True)
    init = psub.add_parser("init", help="create your signing key (the first person becomes admin) and print it")
    init.add_argument("--name", help="your name as reports print it (default: your login name)")
    add_json_option(init, "your public key and registration (never the private key)")
    add = psub.add_parser("add", help="register someone's public key with a role (admins only)")
    add.add_argument("name")
    add.add_argument("--public-key", type=Path, required=True, metavar="FILE",
                     help="the file with the line `mlwb people init` printed for them (ed25519:…) or a PEM key")
    add.add_argument("--role", required=True, choices=("author", "validator", "approver", "admin"))
    add_json_option(add, "the person registered")
    listing = psub.add_parser("list", help="everyone registered, with role and key fingerprint")
    listing.add_argument("--json", action="store_true")
    whoami = psub.add_parser("whoami", help="which key you sign with and whom it is registered to")
    add_json_option(whoami, "your key (public part) and the person it is registered to")


def _init(args: argparse.Namespace) -> int:
    from app.services import people

    wb = open_workspace()
    setup = people.init_me(wb, name=args.name)
    key = setup.key
    public_file = setup.public_file
    if args.json:
        print_json({"created": setup.created, "store": key.store, "public_key": key.public_line,
                    "fingerprint": key.fingerprint, "public_file": str(public_file),
                    "person": setup.person, "registered_now": setup.registered_now})
        return 0
    print(("created" if setup.created else "existing") + f" signing key ({key.store})")
    print(f"public key:  {key.public_line}")
    print(f"fingerprint: {key.fingerprint}")
    if setup.person is None:
        print(f"not registered in this workspace yet: send {public_file} to an admin, who runs "
              f"`mlwb people add YOUR-NAME --public-key {public_file.name} --role validator`")
    else:
        print(f"registered as {setup.person.name} ({setup.person.role})"
              + (" — the first person, so the admin" if setup.registered_now else ""))
    return 0


def _add(args: argparse.Namespace) -> int:
    from app.services import people

    try:
        text = args.public_key.read_text()
    except OSError as exc:
        raise WorkbenchError(f"cannot read {args.public_key}: {exc.strerror}") from None
    person = people.add_person(open_workspace(), args.name, text, args.role)
    if args.json:
        print_json(person)
        return 0
    print(f"registered {person.name} as {person.role}, key fingerprint {person.fingerprint}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from app.services import people

    rows = people.list_people(open_workspace())
    if args.json:
        print(json.dumps([{"name": p.name, "role": p.role, "fingerprint": p.fingerprint, "public_key": p.public_key,
                           "added_by": p.added_by, "added_at": p.created_at.isoformat()} for p in rows], indent=2))
        return 0
    if not rows:
        print("nobody is registered yet: `mlwb people init` registers you as the first admin")
    for p in rows:
        print(f"{p.name}\t{p.role}\t{p.fingerprint}\tadded by {p.added_by}")
    return 0


def _whoami(args: argparse.Namespace) -> int:
    from app.services import people

    me = people.identity(open_workspace())
    if args.json:  # the key's public part only: the private key never leaves where it is kept
        key = None if me.key is None else {"store": me.key.store, "public_key": me.key.public_line,
                                           "fingerprint": me.key.fingerprint}
        print_json({"name": me.name, "key": key, "person": me.person})
        return 0
    if me.key is None:
        print(f"{me.name}: no signing key, so nothing you decide is signed; create one with `mlwb people init`")
    elif me.person is None:
        print(f"key {me.key.fingerprint} ({me.key.store}) is not registered here; ask an admin to add it")
    else:
        print(f"{me.person.name} ({me.person.role}), key {me.person.fingerprint} ({me.key.store})")
    return 0


def _cmd_people(args: argparse.Namespace) -> int:
    return {"init": _init, "add": _add, "list": _list, "whoami": _whoami}[args.people_verb](args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"people": _cmd_people}
