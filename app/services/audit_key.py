"""Rotating the audit key on purpose (`mlwb audit rotate-key`), recorded in the chain.

The rotation is an audit event (``app.audit.ROTATION_ACTION``) MAC'd with the old key whose
payload commits to the new key by its id (never the key), and says who rotated it; every later
event is MAC'd with the new key. The old key is kept, retired, where the current one is (the
0600 file ``audit.key.retired`` or the keyring entry ``ACCOUNT/retired``), because it is the
only key that verifies the events it wrote. The order of the steps makes it crash-safe (see
``app.audit.settle_rotation``): a crash before the event commits leaves the old key current,
and one after it is finished by the next open.

Who may rotate: once people are registered, only an admin, proven by their signing key (a
workspace-wide change to what the chain rests on, like registering a person); in a workspace
with nobody registered, whoever runs it, as for every other change there.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from app import audit
from app.errors import WorkbenchError
from app.services.audit_trail import event_rows
from app.services.workbench import Workbench
from storage.models import Person


@dataclass(frozen=True)
class Rotation:
    seq: int  # the rotation event (the last one the old key wrote)
    old_from_seq: int  # the first event the old key wrote
    old_key_id: str
    new_key_id: str
    store: str  # where the new key is kept: the file's path, or the keyring entry
    retired_store: str  # where the old key is kept now
    actor: str


def rotate_key(wb: Workbench) -> Rotation:
    """Replace the audit key with a new one, recorded in the chain; refused (nothing changed)
    when the chain does not verify, or when people are registered and I am not an admin."""
    ws = wb.workspace
    new_secret = bytes.fromhex(secrets.token_hex(32))
    new_id = audit.key_id(new_secret)
    pending = committed = False
    try:
        with wb.unit_of_work() as uow:  # holds the write lock from here to the commit
            me = uow.identity.person
            if uow.session.scalar(select(func.count(Person.id))):
                if me is None:
                    raise WorkbenchError("people are registered in this workspace, so only an admin can rotate the "
                                         "audit key, and your signing key is not registered here: ask an admin")
                if me.role != "admin":
                    raise WorkbenchError(f"only an admin can rotate the audit key; {me.name} is registered as "
                                         f"{me.role}")
            wb.writing_key(uow.session)  # the key current now (another process may have rotated it)
            verdict = audit.verify_chain(event_rows(uow.session), wb.key, known=wb.anchor.read())
            if not verdict.ok:
                raise WorkbenchError(f"the audit key is not rotated while the chain does not verify: "
                                     f"{verdict.describe()}. Run `mlwb audit verify` and restore the registry (or "
                                     "the key) from a backup first")
            old_id = wb.key.key_id
            old_from = wb.key.retired[-1].through_seq + 1 if wb.key.retired else 1
            store = audit.store_pending_key(ws.key_file, ws.identity, new_secret)  # (1): before the event
            pending = True
            uow.audit(audit.ROTATION_ACTION, "audit_key", new_id, old_key_id=old_id, new_key_id=new_id,
                      store=store.kind, rotated_by=uow.actor, signer=me.fingerprint if me else None)
            seq = uow.session.info["audit_head"].seq
        committed = True
        # (3)-(5): retire the old key and make the new one current
        audit.settle_rotation(ws.key_file, ws.identity, lambda key_id: (seq, old_id) if key_id == new_id else None)
    except BaseException:
        if pending and not committed:  # the old key stays current; the new one never wrote anything
            _discard_pending(wb, new_id)
        raise  # after the commit, a failure leaves the pending key for the next open to finish with
    wb.key = audit.load_key(ws.key_file, account=ws.identity, chain_has_events=True)
    return Rotation(seq, old_from, old_id, new_id, store.where(), store.where("retired"), uow.actor)


def _discard_pending(wb: Workbench, new_id: str) -> None:
    """Remove the pending key of a rotation that did not commit, if it is still ours."""
    store = audit.KeyStore.locate(wb.workspace.key_file, wb.workspace.identity)
    try:
        text = store.read("next") if store is not None else None
        if store is not None and text is not None and audit.key_id(bytes.fromhex(text.strip())) == new_id:
            store.delete("next")
    except (WorkbenchError, ValueError, OSError):
        pass  # the next open discards it (its rotation event is absent)
