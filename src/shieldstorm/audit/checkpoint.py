"""Signed checkpoints in the C2SP formats (tlog-checkpoint inside a signed-note), Ed25519 via `cryptography`.

A checkpoint note body is three lines — origin, decimal tree size, base64 root hash — each ending in a newline.
The note is the body, one blank line, then signature lines `— <name> <base64(key hash ‖ signature)>`.
Key hash = first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key) (0x01 = Ed25519 algorithm byte).
Verifier keys are written `<name>+<hex key hash>+<base64(0x01 ‖ public key)>`; signer keys use the Go
sumdb/note format `PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 ‖ seed)>` so keys interoperate with Go tools.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shieldstorm.errors import ConfigError, InputError

ALGORITHM_ED25519 = 0x01
SIGNATURE_PREFIX = "\u2014 "  # em dash + space
MAX_NOTE_BYTES = 1 << 16


class CheckpointError(InputError):
    """A checkpoint or signed note is malformed or its signature does not verify."""


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALGORITHM_ED25519]) + public_key).digest()[:4]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    note: str = ""  # the full signed note text, when signed

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"


def parse_body(body: str) -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise CheckpointError("checkpoint body needs origin, size and root hash lines, each ending in a newline")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise CheckpointError("checkpoint origin line is empty")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"checkpoint tree size {size_text!r} is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error as exc:
        raise CheckpointError("checkpoint root hash is not valid base64") from exc
    if len(root) != 32:
        raise CheckpointError(f"checkpoint root hash has {len(root)} bytes, expected 32")
    return Checkpoint(origin, int(size_text), root)


class NoteVerifier:
    """Checks signed notes against one Ed25519 verifier key."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if not _valid_name(name):
            raise ConfigError(f"invalid signed-note key name {name!r}")
        self.name = name
        self.public_key = public_key
        self.key_hash = key_hash(name, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ALGORITHM_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_hash.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
        if len(parts) != 3:
            raise ConfigError("verifier key must look like <name>+<hex key hash>+<base64 key>")
        name, hash_hex, encoded = parts
        try:
            raw = base64.b64decode(encoded, validate=True)
            expected_hash = bytes.fromhex(hash_hex)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError("verifier key has invalid hex or base64") from exc
        if len(raw) != 33 or raw[0] != ALGORITHM_ED25519:
            raise ConfigError("verifier key is not an Ed25519 (algorithm 0x01) key")
        verifier = cls(name, raw[1:])
        if verifier.key_hash != expected_hash:
            raise ConfigError("verifier key hash does not match its name and key")
        return verifier

    def verify(self, note: str) -> Checkpoint:
        """Parse a signed checkpoint note; raise CheckpointError unless this key signed it."""
        if len(note.encode()) > MAX_NOTE_BYTES:
            raise CheckpointError("signed note is too large")
        body, separator, signatures = note.partition("\n\n")
        if not separator:
            raise CheckpointError("signed note has no blank line before its signatures")
        body += "\n"
        checkpoint = parse_body(body)
        if not signatures.endswith("\n"):
            raise CheckpointError("signed note must end with a newline")
        for line in signatures[:-1].split("\n"):
            if not line.startswith(SIGNATURE_PREFIX):
                raise CheckpointError(f"malformed signature line {line[:60]!r}")
            name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
            try:
                blob = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise CheckpointError("signature is not valid base64") from exc
            if name != self.name or blob[:4] != self.key_hash or len(blob) != 4 + 64:
                continue  # another signer's line: ignored, as the signed-note spec says
            try:
                self._key.verify(blob[4:], body.encode())
            except InvalidSignature as exc:
                raise CheckpointError(f"checkpoint signature by {name} does not verify") from exc
            return Checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root_hash, note)
        raise CheckpointError(f"checkpoint carries no signature by key {self.name}+{self.key_hash.hex()}")


class NoteSigner:
    """An Ed25519 signed-note signer; its name is the log origin by convention."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not _valid_name(name):
            raise ConfigError(f"invalid signed-note key name {name!r} (no spaces or '+')")
        self.name = name
        self._private = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(name, public)

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @property
    def skey(self) -> str:
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALGORITHM_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash.hex()}+{encoded}"

    @classmethod
    def from_skey(cls, skey: str) -> NoteSigner:
        parts = skey.strip().split("+", 4)  # base64 may itself contain "+"
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise ConfigError("signer key must look like PRIVATE+KEY+<name>+<hex key hash>+<base64 key>")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error as exc:
            raise ConfigError("signer key has invalid base64") from exc
        if len(raw) != 33 or raw[0] != ALGORITHM_ED25519:
            raise ConfigError("signer key is not an Ed25519 (algorithm 0x01) key")
        signer = cls(parts[2], Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_hash.hex() != parts[3].lower():
            raise ConfigError("signer key hash does not match its name and key")
        return signer

    @classmethod
    def load(cls, path: Path) -> NoteSigner:
        try:
            return cls.from_skey(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read audit signing key {path}: {exc.strerror}") from exc
        except UnicodeDecodeError:
            raise ConfigError(f"audit signing key {path} is not valid UTF-8") from None

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> NoteSigner:
        """Load the key at `path`, or generate one there (mode 0600) with its `.vkey` beside it."""
        if path.exists():
            return cls.load(path)
        signer = cls.generate(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            return cls.load(path)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(signer.skey + "\n")
        path.with_suffix(".vkey").write_text(signer.verifier.vkey + "\n", encoding="utf-8")
        return signer

    def sign(self, checkpoint: Checkpoint) -> Checkpoint:
        body = checkpoint.body()
        signature = self._private.sign(body.encode())
        blob = base64.b64encode(self.verifier.key_hash + signature).decode()
        note = f"{body}\n{SIGNATURE_PREFIX}{self.name} {blob}\n"
        return Checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root_hash, note)
