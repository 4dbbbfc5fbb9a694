"""Where the workbench keeps its database, artifacts and audit key.

The workspace is ``$MLWB_HOME`` when set (tests and CI always set it), else the platform's
user data directory, so two users on one machine never share a registry by accident.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    home: Path

    @classmethod
    def locate(cls) -> "Workspace":
        env = os.environ.get("MLWB_HOME")
        if env:
            home = Path(env).expanduser()
        else:
            from platformdirs import user_data_dir

            home = Path(user_data_dir("mlwb", appauthor=False))
        return cls(home.resolve())

    def ensure(self) -> "Workspace":
        self.home.mkdir(parents=True, exist_ok=True)
        self.artifacts_dir.mkdir(exist_ok=True)
        self.exports_dir.mkdir(exist_ok=True)
        id_file = self.home / "workspace-id"
        if not id_file.exists():
            id_file.write_text(uuid.uuid4().hex + "\n")
        return self

    @property
    def identity(self) -> str:
        """A stable name for this workspace's registry (survives moving the folder).

        It keys the audit key in the OS keyring and the audit head anchor; a registry at a
        custom ``MLWB_DATABASE_URL`` gets its own identity.
        """
        base = (self.home / "workspace-id").read_text().strip()
        custom = os.environ.get("MLWB_DATABASE_URL")
        return base if not custom else f"{base}-{hashlib.sha256(custom.encode()).hexdigest()[:12]}"

    @property
    def database_path(self) -> Path:
        return self.home / "registry.sqlite3"

    @property
    def database_url(self) -> str:
        return os.environ.get("MLWB_DATABASE_URL") or f"sqlite:///{self.database_path}"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "artifacts"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def key_file(self) -> Path:
        return self.home / "audit.key"

    @property
    def signing_key_file(self) -> Path:
        """My private signing key when no OS keyring keeps it; ``MLWB_SIGNING_KEY`` names another
        key file (a second person on a shared machine, a test). The key proves who signs; the
        variable only says where to find it."""
        named = os.environ.get("MLWB_SIGNING_KEY")
        return Path(named).expanduser() if named else self.home / "signing.key"

    @property
    def signing_key_named(self) -> bool:
        return bool(os.environ.get("MLWB_SIGNING_KEY"))

    @property
    def anchor_file(self) -> Path:
        return self.home / "audit.head"
