"""Bundles: OPA layout and hashing, deterministic build, safe extraction, signatures of every key type."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from joserfc import jws
from joserfc.jwk import RSAKey

from shieldstorm.policy.bundle import BundleError, PolicyBundle, load_bundle, read_bundle_bytes, safe_member_name
from shieldstorm.policy.engine import DEFAULT_POLICY_DIR, PolicyEngine
from shieldstorm.policy.ojson import canonical_bytes, file_hash, loads_exact
from shieldstorm.policy.signing import (
    KEY_ALGORITHMS,
    SignatureError,
    cosign_sign_blob,
    generate_key,
    sign_bundle,
    verify_bundle,
    verify_cosign_blob,
)


def tar_gz(members: dict[str, bytes], *, extra: list[tarfile.TarInfo] | None = None) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for info in extra or []:
            tar.addfile(info)
    return gzip.compress(raw.getvalue())


def test_opa_json_hashing_keeps_number_literals_and_sorts_keys() -> None:
    raw = b'{"b": 1.50, "a": "<&>", "c": [1e3, {"z": null, "y": true}], "\xc3\xa9": "\\u00e9\\n"}'
    assert canonical_bytes(loads_exact(raw)) == '{"a":"<&>","b":1.50,"c":[1e3,{"y":true,"z":null}],"é":"é\\n"}'.encode()
    assert file_hash("data.json", raw) == hashlib.sha256(canonical_bytes(loads_exact(raw))).hexdigest()
    assert file_hash("p.rego", b"package p\n") == hashlib.sha256(b"package p\n").hexdigest()


def test_opa_built_bundle_is_readable_and_rs256_signature_verifies() -> None:
    """What `opa build --signing-alg RS256` writes: members with a leading '/', data.json mounted by directory."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    files = {
        "/.manifest": b'{"revision":"42","roots":["shield"]}',
        "/shield/policy.rego": b"package shield\nimport rego.v1\n"
        b'decision := {"decision": "allow", "reasons": [data.shield.x]}\n',
        "/shield/data.json": b'{"x": "from-data"}',
    }
    hashes = [{"name": n.lstrip("/"), "hash": file_hash(n, c), "algorithm": "SHA-256"} for n, c in files.items()]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = jws.serialize_compact(
        {"alg": "RS256", "kid": "opa"},
        json.dumps({"files": hashes}).encode(),
        RSAKey.import_key(private_pem),
        algorithms=["RS256"],
    )
    archive = tar_gz({**files, "/.signatures.json": json.dumps({"signatures": [token]}).encode()})
    bundle = read_bundle_bytes(archive)
    assert bundle.revision == "42"
    assert bundle.data == {"shield": {"x": "from-data"}}
    assert verify_bundle(bundle, public_pem).key_id == "opa"
    assert PolicyEngine(bundle).evaluate({}).reasons == ["from-data"]


def test_build_is_deterministic_and_round_trips() -> None:
    bundle = load_bundle(DEFAULT_POLICY_DIR)
    first, second = bundle.to_tar_gz(), load_bundle(DEFAULT_POLICY_DIR).to_tar_gz()
    assert first == second
    again = read_bundle_bytes(first)
    assert again.files == bundle.files
    assert again.digest == bundle.digest


@pytest.mark.parametrize("algorithm", KEY_ALGORITHMS)
def test_sign_and_verify_each_algorithm(algorithm: str) -> None:
    private, public = generate_key(algorithm)
    signed = read_bundle_bytes(sign_bundle(load_bundle(DEFAULT_POLICY_DIR), private).to_tar_gz())
    signer = verify_bundle(signed, public)
    assert signer.algorithm == algorithm
    with pytest.raises(SignatureError):
        verify_bundle(signed, generate_key(algorithm)[1])


def test_tampered_unlisted_and_missing_files_are_rejected() -> None:
    private, public = generate_key("Ed25519")
    signed = sign_bundle(load_bundle(DEFAULT_POLICY_DIR), private)
    assert signed.signatures is not None
    tampered = dict(signed.files)
    tampered["shield/data.json"] = b'{"defaults": {}}'
    with pytest.raises(SignatureError, match="does not match"):
        verify_bundle(PolicyBundle(tampered, signed.signatures), public)
    added = {**signed.files, "shield/extra.rego": b"package shield\n"}
    with pytest.raises(SignatureError, match="not covered"):
        verify_bundle(PolicyBundle(added, signed.signatures), public)
    removed = {k: v for k, v in signed.files.items() if k != "shield/decision_test.rego"}
    with pytest.raises(SignatureError, match="missing"):
        verify_bundle(PolicyBundle(removed, signed.signatures), public)
    with pytest.raises(SignatureError, match="not signed"):
        verify_bundle(PolicyBundle(signed.files), public)


def test_json_whitespace_does_not_break_the_signature() -> None:
    private, public = generate_key("ES256")
    signed = sign_bundle(load_bundle(DEFAULT_POLICY_DIR), private)
    reformatted = dict(signed.files)
    reformatted["shield/data.json"] = json.dumps(json.loads(signed.files["shield/data.json"]), indent=7).encode()
    assert verify_bundle(PolicyBundle(reformatted, signed.signatures), public).algorithm == "ES256"


def test_cosign_blob_signature() -> None:
    private, public = generate_key("ES256")
    blob = load_bundle(DEFAULT_POLICY_DIR).to_tar_gz()
    signature = cosign_sign_blob(blob, private)
    verify_cosign_blob(blob, signature, public)
    with pytest.raises(SignatureError):
        verify_cosign_blob(blob + b"x", signature, public)
    with pytest.raises(SignatureError):
        verify_cosign_blob(blob, base64.b64encode(b"junk"), public)


@pytest.mark.parametrize("name", ["../evil.rego", "a/../../evil.rego", "C:/x.rego", "a\\..\\b.rego", "x\x00.rego"])
def test_slip_paths_are_refused(name: str) -> None:
    with pytest.raises(BundleError):
        safe_member_name(name)
    if "\x00" not in name:  # tar itself truncates names at NUL
        with pytest.raises(BundleError):
            read_bundle_bytes(tar_gz({name: b"package x\n", "ok.rego": b"package y\n"}))


def test_links_devices_and_zip_slip_are_refused() -> None:
    link = tarfile.TarInfo("p.rego")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(BundleError, match="links"):
        read_bundle_bytes(tar_gz({"a.rego": b"package a\n"}, extra=[link]))
    hard = tarfile.TarInfo("h.rego")
    hard.type, hard.linkname = tarfile.LNKTYPE, "a.rego"
    with pytest.raises(BundleError, match="links"):
        read_bundle_bytes(tar_gz({"a.rego": b"package a\n"}, extra=[hard]))
    device = tarfile.TarInfo("d.rego")
    device.type = tarfile.CHRTYPE
    with pytest.raises(BundleError, match="special"):
        read_bundle_bytes(tar_gz({"a.rego": b"package a\n"}, extra=[device]))
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        archive.writestr("../../evil.rego", "package evil\n")
    with pytest.raises(BundleError):
        read_bundle_bytes(raw.getvalue())


def test_size_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    import shieldstorm.policy.bundle as bundle_module

    monkeypatch.setattr(bundle_module, "MAX_FILE_BYTES", 100)
    with pytest.raises(BundleError, match="larger"):
        read_bundle_bytes(tar_gz({"a.rego": b"package a\n" + b"#" * 200}))


def test_symlink_in_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.rego").write_text("package a\n")
    (tmp_path / "b.rego").symlink_to(tmp_path / "a.rego")
    with pytest.raises(BundleError, match="symlink"):
        load_bundle(tmp_path)


def test_not_an_archive() -> None:
    with pytest.raises(BundleError):
        read_bundle_bytes(b"hello")


def test_yaml_data_is_mounted_and_signed_like_opa() -> None:
    files = {
        "shield/policy.rego": b"package shield\nimport rego.v1\n"
        b'decision := {"decision": "allow", "reasons": [data.shield.tag]}\n',
        "shield/data.yaml": b"tag: from-yaml\nlimit: 0.5\n",
    }
    bundle = PolicyBundle(files)
    assert bundle.data == {"shield": {"tag": "from-yaml", "limit": 0.5}}
    assert (
        file_hash("shield/data.yaml", files["shield/data.yaml"])
        == hashlib.sha256(b'{"limit":0.5,"tag":"from-yaml"}').hexdigest()
    )
    private, public = generate_key("Ed25519")
    signed = read_bundle_bytes(sign_bundle(bundle, private).to_tar_gz())
    assert verify_bundle(signed, public).algorithm == "Ed25519"
    assert PolicyEngine(signed).evaluate({}).reasons == ["from-yaml"]
