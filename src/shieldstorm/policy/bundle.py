"""OPA-format policy bundles: a directory, a `.tar.gz` (OPA's own format) or a `.zip`, read safely.

A bundle is `.manifest` (revision, roots), `.rego` modules, `data.json` files (a `data.json` in directory
`a/b/` is mounted at `data.a.b`, as OPA does) and optionally `.signatures.json` (see `signing.py`).
Archives are read in memory, never extracted onto disk: a member whose name escapes the bundle root
(`..`, absolute Windows paths, NUL), a symlink, hard link, device or FIFO, or too much data is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from shieldstorm.errors import InputError
from shieldstorm.policy.ojson import canonical_bytes, file_hash

SIGNATURES = ".signatures.json"
MANIFEST = ".manifest"
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_FILES = 4096
# Only these files are bundle content; anything else in an archive (README, .git) is ignored, as OPA does.
_CONTENT_SUFFIXES = (".rego", ".json", "data.yaml", "data.yml")
_DATA_FILES = ("data.json", "data.yaml", "data.yml")


class BundleError(InputError):
    """The bundle is unreadable, unsafe or inconsistent."""


def safe_member_name(name: str) -> str:
    """Normalise an archive member name to a relative POSIX path, or refuse it (zip/tar-slip)."""
    if "\x00" in name or "\\" in name:
        raise BundleError(f"unsafe path in bundle: {name!r}")
    stripped = name
    # OPA writes members as "/data.json"; "./x" is common from `tar -C dir .`.
    while stripped.startswith("./"):
        stripped = stripped[2:]
    stripped = stripped.lstrip("/")
    if len(stripped) >= 2 and stripped[1] == ":":
        raise BundleError(f"unsafe path in bundle: {name!r}")
    parts = stripped.split("/")
    if any(part == ".." for part in parts):
        raise BundleError(f"unsafe path in bundle (escapes the bundle root): {name!r}")
    normal = posixpath.normpath(stripped) if stripped else ""
    if normal in ("", ".") or normal.startswith("../"):
        raise BundleError(f"unsafe path in bundle: {name!r}")
    return normal


def _is_content(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return base in (MANIFEST, SIGNATURES) or name.endswith(_CONTENT_SUFFIXES)


class _Budget:
    def __init__(self) -> None:
        self.total = 0
        self.count = 0

    def take(self, name: str, size: int) -> None:
        if size > MAX_FILE_BYTES:
            raise BundleError(f"bundle file {name} is larger than {MAX_FILE_BYTES} bytes")
        self.total += size
        self.count += 1
        if self.total > MAX_TOTAL_BYTES:
            raise BundleError(f"bundle is larger than {MAX_TOTAL_BYTES} bytes uncompressed")
        if self.count > MAX_FILES:
            raise BundleError(f"bundle has more than {MAX_FILES} files")


@dataclass(frozen=True)
class PolicyBundle:
    """Bundle content in memory. `files` excludes `.signatures.json`, which is kept in `signatures`."""

    files: dict[str, bytes]
    signatures: bytes | None = None
    source: str = "<memory>"

    @cached_property
    def manifest(self) -> dict[str, Any]:
        raw = self.files.get(MANIFEST)
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise BundleError(f"{self.source}: .manifest is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise BundleError(f"{self.source}: .manifest must be a JSON object")
        return value

    @property
    def revision(self) -> str:
        return str(self.manifest.get("revision", ""))

    def modules(self, *, include_tests: bool = False) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, raw in sorted(self.files.items()):
            if not name.endswith(".rego"):
                continue
            if not include_tests and name.endswith("_test.rego"):
                continue
            try:
                out[name] = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BundleError(f"{self.source}: {name} is not UTF-8") from exc
        return out

    @cached_property
    def data(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for name, raw in sorted(self.files.items()):
            if name.rsplit("/", 1)[-1] not in _DATA_FILES:
                continue
            try:
                value = json.loads(raw) if name.endswith(".json") else _load_yaml(raw)
            except ValueError as exc:
                raise BundleError(f"{self.source}: {name} is not valid JSON: {exc}") from exc
            except RecursionError:
                raise BundleError(f"{self.source}: {name} is nested too deeply") from None
            path = [part for part in posixpath.dirname(name).split("/") if part]
            target = merged
            for part in path:
                node = target.setdefault(part, {})
                if not isinstance(node, dict):
                    raise BundleError(f"{self.source}: {name} conflicts with data at {'.'.join(path)}")
                target = node
            if path:
                if not isinstance(value, dict):
                    # A non-object under a path replaces the (empty) node created for it.
                    parent = merged
                    for part in path[:-1]:
                        parent = parent[part]
                    parent[path[-1]] = value
                    continue
            elif not isinstance(value, dict):
                raise BundleError(f"{self.source}: root data.json must be a JSON object")
            _merge(target, value, name)
        return merged

    def file_hashes(self) -> list[dict[str, str]]:
        return [
            {"name": name, "hash": file_hash(name, raw), "algorithm": "SHA-256"}
            for name, raw in sorted(self.files.items())
        ]

    @cached_property
    def digest(self) -> str:
        """sha256 over the sorted file hashes: the same content always has the same digest, however packed."""
        return "sha256:" + hashlib.sha256(canonical_bytes(self.file_hashes())).hexdigest()

    def with_signatures(self, signatures: bytes | None) -> PolicyBundle:
        return PolicyBundle(files=dict(self.files), signatures=signatures, source=self.source)

    def to_tar_gz(self) -> bytes:
        """A deterministic archive: sorted members, zero mtimes/owners, fixed modes, gzip without a timestamp."""
        members = dict(self.files)
        if self.signatures is not None:
            members[SIGNATURES] = self.signatures
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(members):
                info = tarfile.TarInfo("/" + name)
                info.size = len(members[name])
                info.mode = 0o644
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(members[name]))
        out = io.BytesIO()
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
            gz.write(raw.getvalue())
        return out.getvalue()


def _load_yaml(raw: bytes) -> Any:
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc).splitlines()[0]) from exc


def _merge(target: dict[str, Any], value: dict[str, Any], name: str) -> None:
    for key, item in value.items():
        if key in target and isinstance(target[key], dict) and isinstance(item, dict):
            _merge(target[key], item, name)
        elif key in target:
            raise BundleError(f"{name}: data key {key!r} is defined twice")
        else:
            target[key] = item


def _split(files: dict[str, bytes], source: str) -> PolicyBundle:
    signatures = files.pop(SIGNATURES, None)
    if not any(name.endswith(".rego") for name in files):
        raise BundleError(f"{source}: bundle has no .rego modules")
    return PolicyBundle(files=files, signatures=signatures, source=source)


def load_directory(path: Path) -> PolicyBundle:
    root = path.resolve()
    files: dict[str, bytes] = {}
    budget = _Budget()
    for item in sorted(root.rglob("*")):
        rel = item.relative_to(root).as_posix()
        if item.is_symlink():
            raise BundleError(f"{path}: symlinks are not allowed in a bundle: {rel}")
        if not item.is_file() or not _is_content(rel):
            continue
        if any(part.startswith(".") and part not in (MANIFEST, SIGNATURES) for part in rel.split("/")):
            continue
        budget.take(rel, item.stat().st_size)
        files[safe_member_name(rel)] = item.read_bytes()
    return _split(files, str(path))


def _read_tar(raw: bytes, source: str) -> PolicyBundle:
    files: dict[str, bytes] = {}
    budget = _Budget()
    try:
        # Decompress with a cap so a gzip bomb cannot exhaust memory.
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            data = gz.read(MAX_TOTAL_BYTES + 2 * MAX_FILE_BYTES + 1)
        if len(data) > MAX_TOTAL_BYTES + 2 * MAX_FILE_BYTES:
            raise BundleError(f"{source}: bundle is larger than {MAX_TOTAL_BYTES} bytes uncompressed")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for member in tar.getmembers():
                if member.isdir():
                    continue
                if member.issym() or member.islnk():
                    raise BundleError(f"{source}: links are not allowed in a bundle: {member.name}")
                if not member.isfile():
                    raise BundleError(f"{source}: special files are not allowed in a bundle: {member.name}")
                name = safe_member_name(member.name)
                if not _is_content(name):
                    continue
                budget.take(name, member.size)
                if name in files:
                    raise BundleError(f"{source}: duplicate file in bundle: {name}")
                handle = tar.extractfile(member)
                if handle is None:
                    raise BundleError(f"{source}: unreadable member {member.name}")
                files[name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{source}: not a readable .tar.gz bundle: {exc}") from exc
    return _split(files, source)


def _read_zip(raw: bytes, source: str) -> PolicyBundle:
    files: dict[str, bytes] = {}
    budget = _Budget()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                mode = (info.external_attr >> 16) & 0o170000
                if mode and mode != 0o100000:
                    raise BundleError(f"{source}: links and special files are not allowed in a bundle: {info.filename}")
                name = safe_member_name(info.filename)
                if not _is_content(name):
                    continue
                budget.take(name, info.file_size)
                with archive.open(info) as handle:
                    content = handle.read(MAX_FILE_BYTES + 1)
                if len(content) > MAX_FILE_BYTES:
                    raise BundleError(f"{source}: bundle file {name} is larger than {MAX_FILE_BYTES} bytes")
                files[name] = content
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError(f"{source}: not a readable .zip bundle: {exc}") from exc
    return _split(files, source)


def read_bundle_bytes(raw: bytes, source: str = "<bytes>") -> PolicyBundle:
    if raw[:2] == b"\x1f\x8b":
        return _read_tar(raw, source)
    if raw[:4] == b"PK\x03\x04":
        return _read_zip(raw, source)
    raise BundleError(f"{source}: not a .tar.gz or .zip bundle")


def load_bundle(path: str | Path) -> PolicyBundle:
    """Read a bundle directory or archive."""
    target = Path(path)
    if target.is_symlink() and target.is_dir():
        raise BundleError(f"{target}: bundle directory must not be a symlink")
    if target.is_dir():
        return load_directory(target)
    if not target.is_file():
        raise BundleError(f"{target}: no such bundle file or directory")
    if target.stat().st_size > MAX_TOTAL_BYTES:
        raise BundleError(f"{target}: bundle archive is larger than {MAX_TOTAL_BYTES} bytes")
    return read_bundle_bytes(target.read_bytes(), str(target))


def merge_bundles(bundles: list[PolicyBundle], *, revision: str | None = None) -> PolicyBundle:
    """Layer bundles (e.g. the default policy plus presets); later files must not replace earlier ones."""
    files: dict[str, bytes] = {}
    for bundle in bundles:
        for name, raw in bundle.files.items():
            if name == MANIFEST:
                continue
            if name in files and files[name] != raw:
                raise BundleError(f"{bundle.source}: {name} is already provided by another bundle")
            files[name] = raw
    manifest = dict(bundles[0].manifest) if bundles else {}
    if revision is not None:
        manifest["revision"] = revision
    files[MANIFEST] = json.dumps(manifest, sort_keys=True).encode()
    return PolicyBundle(files=files, source="+".join(b.source for b in bundles))
