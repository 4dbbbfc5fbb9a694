"""People's signing keys and the statements they sign (Ed25519, from ``cryptography``).

Who approved, waived or promoted is proven by a signature, never by a name someone typed or an
environment variable: the decision is written as a canonical *statement* (what was decided,
about which model file, on which evidence, with what comment), signed with the person's private
key, and stored with the signature and the key's fingerprint. Anyone holding the public keys,
a reviewer on another machine included (``app.bundle_verify``), can check it offline.

This module needs no database. A person's private key lives in the OS keyring when one works,
else in a 0600 file (``app.keystore``); the public key travels as one line, ``ed25519:<hex>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.canonical import canonical_json
from app.errors import WorkbenchError
from app.keystore import usable_keyring, write_private_file

KEYRING_SERVICE = "mlwb-signing-key"
PUBLIC_PREFIX = "ed25519:"
#: The ``format`` every signed statement carries; a verifier refuses any other.
STATEMENT_FORMAT = "mlwb-statement/1"
#: What every statement states, whatever its kind (waivers add ``check``, reviews ``manifest``).
STATEMENT_FIELDS = ("format", "kind", "project", "version", "model_sha256", "evidence_digest", "evidence_seq",
                    "decision", "comment", "signer", "signed_at")
#: A checkpoint of the audit chain (``app.services.checkpoint``): the file's ``format`` and what
#: its statement states. Here, beside the statements, so the offline bundle verifier (which
#: opens no workspace) checks the checkpoint a bundle carries by the same definition.
CHECKPOINT_FORMAT = "mlwb-checkpoint/1"
CHECKPOINT_FIELDS = ("kind", "workspace", "seq", "head", "evidence_digest", "made_at")


def fingerprint(public_hex: str) -> str:
    """SHA-256 of the raw 32-byte public key, hex: what a reviewer compares out of band."""
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()


def short_fingerprint(fp: str) -> str:
    """The first 64 bits in groups of four, for table cells; the full one is printed once per signer."""
    return ":".join(fp[i:i + 4] for i in range(0, 16, 4))


def parse_public_key(text: str) -> str:
    """A public key as the raw hex this module stores, from ``ed25519:<hex>``, bare hex or PEM."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise WorkbenchError(f"not a readable PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise WorkbenchError("the PEM key is not an Ed25519 key: create one with `mlwb people init`")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    raw = text.removeprefix(PUBLIC_PREFIX).split()[0] if text else ""
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = b""
    if len(key) == 32:
        return raw.lower()
    raise WorkbenchError(
        "not an Ed25519 public key: expected the line `mlwb people init` prints (ed25519: and 64 hex digits) "
        "or a PEM public key")


@dataclass(frozen=True)
class SignedStatement:
    """A statement as signed: its canonical text, the signature (hex) and the signer's fingerprint."""

    text: str
    signature: str
    fingerprint: str

    @property
    def fields(self) -> dict[str, Any]:
        import json

        return json.loads(self.text)


class SigningKey:
    """A person's private key, loaded from where it is kept. ``repr`` never shows the secret."""

    def __init__(self, private_bytes: bytes, store: str) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._key = Ed25519PrivateKey.from_private_bytes(private_bytes)
        self.store = store
        self.public_hex = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
        self.fingerprint = fingerprint(self.public_hex)

    def __repr__(self) -> str:
        return f"SigningKey(fingerprint={self.fingerprint[:16]}…, store={self.store!r})"

    @property
    def public_line(self) -> str:
        return PUBLIC_PREFIX + self.public_hex

    def sign(self, fields: Mapping[str, Any], *, required: tuple[str, ...] = STATEMENT_FIELDS) -> SignedStatement:
        """Sign a statement (``signer`` and ``format`` are filled in here); returns what is stored.
        ``required`` are the fields it must state: a decision's by default."""
        missing = [f for f in required if f not in fields and f not in ("format", "signer")]
        if missing:
            raise ValueError(f"a statement needs {', '.join(missing)}")
        text = canonical_json({**fields, "format": STATEMENT_FORMAT, "signer": self.fingerprint})
        return SignedStatement(text, self._key.sign(text.encode("utf-8")).hex(), self.fingerprint)


def verify_statement(public_hex: str, statement: str, signature: str) -> bool:
    """True when ``signature`` is ``public_hex``'s signature over ``statement`` and names that key."""
    import json

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        fields = json.loads(statement)
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))
        key.verify(bytes.fromhex(signature), statement.encode("utf-8"))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return (isinstance(fields, dict) and fields.get("format") == STATEMENT_FORMAT
            and fields.get("signer") == fingerprint(public_hex))


# --- where my key is kept --------------------------------------------------------------------


def _from_pem(text: str, store: str) -> SigningKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise WorkbenchError(f"the signing key in {store} is not readable ({exc}): restore it from your backup "
                             "or create a new one with `mlwb people init --new` and have an admin register it") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WorkbenchError(f"the signing key in {store} is not an Ed25519 key")
    return SigningKey(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption()), store)


def _to_pem(private_bytes: bytes) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(private_bytes)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def load_signing_key(key_file: Path, account: str, *, file_only: bool = False) -> SigningKey | None:
    """My signing key, or None when I have none yet. ``file_only`` when a key file was named."""
    if key_file.is_file():
        return _from_pem(key_file.read_text(), str(key_file))
    if key_file.exists():
        raise WorkbenchError(f"{key_file} is not a file: point MLWB_SIGNING_KEY at your signing key file")
    backend = None if file_only else usable_keyring()
    if backend is not None:
        try:
            stored = backend.get_password(KEYRING_SERVICE, account)
        except Exception:
            stored = None
        if stored:
            return SigningKey(bytes.fromhex(stored), "keyring")
    return None


def create_signing_key(key_file: Path, account: str, *, file_only: bool = False) -> SigningKey:
    """A new key pair, kept in the OS keyring (else ``key_file``, 0600)."""
    import secrets

    private = secrets.token_bytes(32)
    backend = None if file_only else usable_keyring()
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, account, private.hex())
            return SigningKey(private, "keyring")
        except Exception:  # a locked or broken keyring: keep the key in a file instead
            pass
    write_private_file(key_file, _to_pem(private))
    return SigningKey(private, str(key_file))


def write_private_key(path: Path, key: SigningKey) -> None:
    """Save ``key`` to a new 0600 PEM file (the demo's fictional validator, a test's second person)."""
    write_private_file(path, _to_pem(key._key.private_bytes_raw()))


def new_signing_key() -> SigningKey:
    """A key pair held only in memory (kept by the caller with ``write_private_key``)."""
    import secrets

    return SigningKey(secrets.token_bytes(32), "memory")
