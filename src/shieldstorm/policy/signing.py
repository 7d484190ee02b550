"""Bundle signatures in OPA's format, plus cosign key-based blob signatures.

`.signatures.json` is `{"signatures": ["<compact JWS>"]}`; the JWS payload is
`{"files": [{"name", "hash", "algorithm": "SHA-256"}...], "iat", "keyid"?}` and its header holds `alg`/`kid`.
Verification demands exactly one signature, every bundle file listed with the right hash, and no listed
file missing. Keys: Ed25519 (alg "Ed25519"; OPA's "EdDSA" accepted), ES256, RSA (verify only, for bundles
signed by `opa sign`), and ML-DSA-65 (post-quantum, alg "ML-DSA-65"; joserfc has no ML-DSA, so that JWS is
assembled by hand around `cryptography`'s ML-DSA).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, rsa

from shieldstorm.errors import InputError
from shieldstorm.policy.bundle import PolicyBundle

KEY_ALGORITHMS = ("Ed25519", "ES256", "ML-DSA-65")
_RSA_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]


class SignatureError(InputError):
    """The bundle is unsigned, or its signature does not verify."""


@dataclass(frozen=True)
class Signer:
    algorithm: str
    key_id: str | None
    issued_at: int | None

    def describe(self) -> str:
        return f"{self.algorithm}:{self.key_id}" if self.key_id else self.algorithm


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("bundle signature is not valid base64url") from exc


def generate_key(algorithm: str) -> tuple[bytes, bytes]:
    """(private PEM, public PEM) for Ed25519, ES256 (P-256) or ML-DSA-65."""
    private: Any
    if algorithm == "Ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif algorithm == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif algorithm == "ML-DSA-65":
        private = mldsa.MLDSA65PrivateKey.generate()
    else:
        raise InputError(f"unknown key algorithm {algorithm!r} (use one of {', '.join(KEY_ALGORITHMS)})")
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def key_id(public_pem: bytes) -> str:
    """A short stable id for a public key (sha256 of its DER), used as the JWS `kid`."""
    key = load_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def load_private_key(pem: bytes) -> Any:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not a usable unencrypted PEM private key: {exc}") from exc


def load_public_key(pem: bytes) -> Any:
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not a usable PEM public key: {exc}") from exc


def _algorithm_of(key: Any) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InputError("only P-256 EC keys (ES256) are supported")
        return "ES256"
    if isinstance(key, mldsa.MLDSA65PrivateKey | mldsa.MLDSA65PublicKey):
        return "ML-DSA-65"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RSA"
    raise InputError(f"unsupported key type {type(key).__name__}")


def _payload(bundle: PolicyBundle, kid: str | None) -> bytes:
    payload: dict[str, Any] = {"files": bundle.file_hashes(), "iat": int(time.time())}
    if kid:
        payload["keyid"] = kid
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign_bundle(bundle: PolicyBundle, private_pem: bytes, *, kid: str | None = None) -> PolicyBundle:
    """A copy of `bundle` carrying a fresh `.signatures.json`."""
    from joserfc import jws
    from joserfc.jwk import ECKey, OKPKey

    private = load_private_key(private_pem)
    algorithm = _algorithm_of(private)
    if kid is None:
        public_pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = key_id(public_pem)
    payload = _payload(bundle, kid)
    header = {"alg": algorithm, "kid": kid}
    if algorithm == "ML-DSA-65":
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(payload)}"
        token = f"{signing_input}.{_b64url(private.sign(signing_input.encode()))}"
    elif algorithm == "Ed25519":
        token = jws.serialize_compact(header, payload, OKPKey.import_key(private_pem), algorithms=["Ed25519"])
    elif algorithm == "ES256":
        token = jws.serialize_compact(header, payload, ECKey.import_key(private_pem), algorithms=["ES256"])
    else:
        raise InputError("signing supports Ed25519, ES256 and ML-DSA-65 keys")
    signatures = json.dumps({"signatures": [token]}, indent=2).encode() + b"\n"
    return bundle.with_signatures(signatures)


def _verify_token(token: str, public_pem: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    from joserfc import jws
    from joserfc.errors import JoseError
    from joserfc.jwk import ECKey, OKPKey, RSAKey

    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureError("bundle signature is not a compact JWS")
    try:
        header = json.loads(_unb64url(parts[0]))
    except ValueError as exc:
        raise SignatureError("bundle signature header is not JSON") from exc
    if not isinstance(header, dict):
        raise SignatureError("bundle signature header is not a JSON object")
    public = load_public_key(public_pem)
    algorithm = _algorithm_of(public)
    alg = header.get("alg")
    if algorithm == "ML-DSA-65":
        if alg != "ML-DSA-65":
            raise SignatureError(f"bundle signed with {alg!r} but the key is ML-DSA-65")
        try:
            public.verify(_unb64url(parts[2]), f"{parts[0]}.{parts[1]}".encode())
        except InvalidSignature as exc:
            raise SignatureError("bundle signature does not verify") from exc
        payload_raw = _unb64url(parts[1])
    else:
        key: Any
        if algorithm == "Ed25519":
            key, allowed = OKPKey.import_key(public_pem), ["Ed25519", "EdDSA"]
        elif algorithm == "ES256":
            key, allowed = ECKey.import_key(public_pem), ["ES256"]
        else:
            key, allowed = RSAKey.import_key(public_pem), _RSA_ALGS
        if alg not in allowed:
            raise SignatureError(f"bundle signed with {alg!r}, which this {algorithm} key cannot verify")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "EdDSA" is deprecated in joserfc but is what OPA writes
                payload_raw = jws.deserialize_compact(token, key, algorithms=[str(alg)]).payload
        except (JoseError, ValueError) as exc:
            raise SignatureError("bundle signature does not verify") from exc
    try:
        payload = json.loads(payload_raw)
    except ValueError as exc:
        raise SignatureError("bundle signature payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise SignatureError("bundle signature payload is not a JSON object")
    return header, payload


def verify_bundle(bundle: PolicyBundle, public_pem: bytes) -> Signer:
    """Check `.signatures.json` against the key and the bundle's files; return who signed it."""
    if bundle.signatures is None:
        raise SignatureError(f"{bundle.source}: bundle is not signed (no .signatures.json)")
    try:
        document = json.loads(bundle.signatures)
    except ValueError as exc:
        raise SignatureError(f"{bundle.source}: .signatures.json is not JSON") from exc
    tokens = document.get("signatures") if isinstance(document, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise SignatureError(f"{bundle.source}: .signatures.json must hold exactly one JWS")
    header, payload = _verify_token(tokens[0], public_pem)
    listed = payload.get("files")
    if not isinstance(listed, list):
        raise SignatureError(f"{bundle.source}: signature payload has no file list")
    expected = {entry["name"]: entry["hash"] for entry in bundle.file_hashes()}
    seen: dict[str, str] = {}
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise SignatureError(f"{bundle.source}: malformed file entry in signature")
        algorithm = str(entry.get("algorithm", "SHA-256")).upper()
        if algorithm != "SHA-256":
            raise SignatureError(f"{bundle.source}: unsupported file hash algorithm {algorithm}")
        seen[entry["name"].lstrip("/")] = str(entry.get("hash", ""))
    for name, digest in expected.items():
        if name not in seen:
            raise SignatureError(f"{bundle.source}: file {name} is not covered by the signature")
        if seen[name] != digest:
            raise SignatureError(f"{bundle.source}: file {name} does not match its signed hash")
    for name in seen:
        if name not in expected:
            raise SignatureError(f"{bundle.source}: signed file {name} is missing from the bundle")
    kid = header.get("kid") or payload.get("keyid")
    iat = payload.get("iat")
    return Signer(str(header.get("alg")), str(kid) if kid else None, int(iat) if isinstance(iat, int) else None)


def verify_cosign_blob(blob: bytes, signature_b64: bytes | str, public_pem: bytes) -> None:
    """Verify a cosign key-based blob signature: base64 DER ECDSA-P256/SHA-256 over the blob bytes."""
    public = load_public_key(public_pem)
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise SignatureError("cosign blob signatures need an ECDSA P-256 public key")
    text = signature_b64.decode() if isinstance(signature_b64, bytes) else signature_b64
    try:
        signature = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("cosign signature is not base64") from exc
    try:
        public.verify(signature, blob, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureError("cosign signature does not verify") from exc


def cosign_sign_blob(blob: bytes, private_pem: bytes) -> bytes:
    """Produce what `cosign sign-blob --key` prints (base64 DER ECDSA-P256/SHA-256), for tests and tooling."""
    private = load_private_key(private_pem)
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise InputError("cosign blob signing needs an ECDSA P-256 key")
    return base64.b64encode(private.sign(blob, ec.ECDSA(hashes.SHA256())))


def read_key_file(path: str | Path) -> bytes:
    target = Path(path)
    if not target.is_file():
        raise InputError(f"{target}: key file not found")
    return target.read_bytes()
