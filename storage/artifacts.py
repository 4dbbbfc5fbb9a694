"""Content-addressed, immutable artifact files (datasets, split assignments, models).

A file's name is its SHA-256, so the same bytes are stored once and a registry row can check
what it loads. Writes go to a temporary file first and are renamed into place, so a crash never
leaves a half-written artifact under a valid name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

CHUNK = 1 << 20


class ArtifactCorrupted(Exception):
    """An artifact's bytes no longer match the hash the registry recorded."""


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str, suffix: str = "") -> Path:
        return self.root / sha256[:2] / f"{sha256}{suffix}"

    def put_bytes(self, data: bytes, suffix: str = "") -> str:
        sha = hashlib.sha256(data).hexdigest()
        target = self.path_for(sha, suffix)
        if not target.exists():
            self._atomic_write(target, lambda fh: fh.write(data))
        return sha

    def put_file(self, source: Path, suffix: str = "") -> str:
        """Copy ``source`` in, hashing it on the way (one read); returns its SHA-256."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as fh, open(source, "rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            sha = digest.hexdigest()
            target = self.path_for(sha, suffix)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp, 0o444)
                os.replace(tmp, target)
            return sha
        finally:
            Path(tmp).unlink(missing_ok=True)

    def incoming_path(self) -> Path:
        """A new empty file inside the store for a writer elsewhere (a worker process) to stream
        an artifact into; ``adopt`` moves it in under its hash. The caller removes it if it is
        never adopted. Inside the store, so adopting it is a rename, never a copy."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        os.close(fd)
        return Path(tmp)

    def adopt(self, path: Path, suffix: str = "", *, sha256: str | None = None) -> str:
        """Move a finished file from ``incoming_path`` into the store under its SHA-256.

        The file is hashed once here (and synced) whatever its writer claimed: a worker's
        ``sha256`` must match, or the file is refused and removed. Returns the hash.
        """
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
            os.fsync(fh.fileno())
        sha = digest.hexdigest()
        if sha256 is not None and sha != sha256:
            path.unlink(missing_ok=True)
            raise ArtifactCorrupted(f"the file written for artifact {sha256[:12]} hashes to {sha[:12]}: "
                                    "it changed after it was written; run the step again")
        target = self.path_for(sha, suffix)
        if target.exists():
            path.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o444)
            os.replace(path, target)
        return sha

    def get_bytes(self, sha256: str, suffix: str = "") -> bytes:
        data = self.path_for(sha256, suffix).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ArtifactCorrupted(f"artifact {sha256[:12]} does not match its hash")
        return data

    def verified_path(self, sha256: str, suffix: str = "") -> Path:
        path = self.path_for(sha256, suffix)
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            raise ArtifactCorrupted(f"artifact {sha256[:12]} does not match its hash")
        return path

    def _atomic_write(self, target: Path, write) -> None:  # type: ignore[no-untyped-def]
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                write(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

