"""Where the workbench keeps a secret: the OS keyring when one works, else a 0600 file.

Both the audit key (``app.audit``) and a person's signing key (``app.signing``) are stored this
way, so the rules about which keyring backends are safe to use live once, here.
"""

from __future__ import annotations

import os
from pathlib import Path


def usable_keyring():  # type: ignore[no-untyped-def]
    """The OS keyring backend, or None where it would fail, lose the key, or prompt.

    ``fail`` has no backend at all; ``null`` silently drops secrets; the keyrings.alt file
    backends prompt with getpass, which would take over the Textual screen. Setting
    ``MLWB_AUDIT_KEY_STORE=file`` keeps every key in files (a headless server, a test).
    """
    if os.environ.get("MLWB_AUDIT_KEY_STORE") == "file":
        return None
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    if type(backend).__module__.startswith("keyrings.alt"):
        return None
    return backend


def write_private_file(path: Path, text: str) -> None:
    """Create ``path`` readable only by its owner; refuses to overwrite an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def replace_private_file(path: Path, text: str) -> None:
    """Write ``path`` readable only by its owner, replacing it atomically and durably: a 0600
    temporary file in the same folder, flushed to disk, renamed over ``path``, and the folder
    flushed, so a crash leaves the old content or the new one, never a torn key."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
