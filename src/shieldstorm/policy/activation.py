"""Activating bundles: verify, anti-rollback, validate in a child process, swap atomically, record, audit.

A bundle is rejected (audit event `policy.rejected`, the running policy untouched) when it is unsigned or
badly signed while keys are configured, when its revision does not increase (unless it is an explicit
rollback), when it fails to compile, or when its own Rego tests fail. Accepted bundles are swapped into the
holder in one reference assignment and recorded with digest, signer, revision and time
(`policy.activated` / `policy.rolled_back`).
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shieldstorm.errors import InputError
from shieldstorm.policy.bundle import PolicyBundle, read_bundle_bytes
from shieldstorm.policy.engine import PolicyEngine
from shieldstorm.policy.holder import PolicyHolder
from shieldstorm.policy.signing import SignatureError, Signer, key_id, verify_bundle, verify_cosign_blob
from shieldstorm.policy.store import Activation, PolicyStore
from shieldstorm.policy.testing import run_tests_isolated

log = logging.getLogger(__name__)


class PolicyRejected(InputError):
    """The bundle was not activated; the message says why (one line)."""


def revision_key(revision: str) -> tuple[tuple[int, int | str], ...]:
    """Order revisions naturally: "9" < "10", "1.2.9" < "1.2.10"; numbers sort before words."""
    parts = re.findall(r"\d+|[^\d.\-+_]+", revision)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


@dataclass(frozen=True)
class Outcome:
    activation: Activation | None
    engine: PolicyEngine | None
    changed: bool


class PolicyManager:
    """Owns the activation path for one holder (one per Shield process)."""

    def __init__(
        self,
        holder: PolicyHolder | None,
        store: PolicyStore | None = None,
        *,
        public_keys: list[bytes] | None = None,
        require_signature: bool = True,
        run_tests: bool = True,
        audit: Any | None = None,
        fail_mode: str = "closed",
    ) -> None:
        self.holder = holder
        self.store = store
        self.public_keys = public_keys or []
        self.require_signature = require_signature
        self.run_tests = run_tests
        self.audit = audit
        self.fail_mode = fail_mode

    # ---- audit ----------------------------------------------------------------------------------------

    def _audit(self, event_type: str, actor: str, data: dict[str, Any]) -> None:
        if self.audit is None:
            return
        from shieldstorm.audit.events import AuditEvent

        try:
            self.audit.append(AuditEvent(event_type=event_type, actor=actor, data=data))
        except Exception:  # auditing must not change whether the policy swap happened; the log spools itself
            log.exception("could not audit %s", event_type)

    def _reject(self, bundle: PolicyBundle, reason: str, actor: str, source: str | None) -> PolicyRejected:
        log.warning("policy bundle rejected (%s): %s", source or bundle.source, reason)
        self._audit(
            "policy.rejected",
            actor,
            {"revision": bundle.revision, "digest": bundle.digest, "source": source, "reason": reason},
        )
        return PolicyRejected(f"bundle {bundle.revision or '?'} rejected: {reason}")

    # ---- checks ---------------------------------------------------------------------------------------

    def verify(self, bundle: PolicyBundle, cosign: tuple[bytes, bytes] | None = None) -> Signer | None:
        """The bundle's own JWS (`.signatures.json`), or else a cosign blob signature of the archive bytes
        (`cosign=(archive, signature)`), against each configured key."""
        if not self.public_keys:
            if self.require_signature:
                raise SignatureError("no public key configured to verify bundle signatures")
            return None
        errors: list[str] = []
        if bundle.signatures is not None or cosign is None:
            for key in self.public_keys:
                try:
                    return verify_bundle(bundle, key)
                except SignatureError as exc:
                    errors.append(str(exc))
        if cosign is not None:
            archive, signature = cosign
            for key in self.public_keys:
                try:
                    verify_cosign_blob(archive, signature, key)
                    return Signer("cosign-ECDSA-P256", key_id(key), None)
                except InputError as exc:
                    errors.append(str(exc))
        raise SignatureError(errors[0] if len(errors) == 1 else "signature verifies with none of the configured keys")

    def current_revision(self) -> str | None:
        if self.store is not None:
            current = self.store.current()
            if current is not None:
                return current.revision
        if self.holder is not None and not self.holder.engine.builtin:
            return self.holder.engine.revision
        return None

    def current_digest(self) -> str | None:
        if self.holder is not None:
            return self.holder.engine.digest
        if self.store is not None:
            current = self.store.current()
            return current.digest if current else None
        return None

    def validate(self, bundle: PolicyBundle) -> str | None:
        """Compile + own tests in a child process; the error text, or None when the bundle is good."""
        with tempfile.TemporaryDirectory(prefix="ss-policy-") as tmp:
            path = Path(tmp) / "bundle.tar.gz"
            path.write_bytes(bundle.to_tar_gz())
            report = run_tests_isolated(path)
        if report.error:
            return report.error
        failed = [r.name for r in report.results if r.outcome != "pass"]
        if failed:
            return f"{len(failed)} Rego test(s) failed: {', '.join(failed[:5])}"
        return None

    # ---- activation -----------------------------------------------------------------------------------

    def activate(
        self,
        bundle: PolicyBundle,
        *,
        actor: str = "system",
        source: str | None = None,
        rollback: bool = False,
        cosign: tuple[bytes, bytes] | None = None,
        trusted_signer: str | None = None,
    ) -> Outcome:
        """Activate `bundle`. `cosign=(archive bytes, base64 signature)` accepts a cosign blob signature;
        `trusted_signer` skips verification for bundles replayed from the activation history, which were
        verified when first recorded."""
        if not rollback and self.current_digest() == bundle.digest:
            return Outcome(self.store.current() if self.store else None, None, False)
        signer: Signer | None
        if trusted_signer is not None:
            signer = Signer(trusted_signer, None, None)
        else:
            try:
                signer = self.verify(bundle, cosign)
            except (SignatureError, InputError) as exc:
                raise self._reject(bundle, str(exc), actor, source) from exc
        current = self.current_revision()
        if not rollback and current is not None and revision_key(bundle.revision) <= revision_key(current):
            raise self._reject(
                bundle,
                f"revision {bundle.revision!r} does not increase past the active {current!r} "
                "(use `policy rollback` to go back)",
                actor,
                source,
            )
        problem = self.validate(bundle) if self.run_tests else None
        if problem is not None:
            raise self._reject(bundle, problem, actor, source)
        try:
            engine = PolicyEngine(bundle, fail_mode=self.fail_mode, signer=signer.describe() if signer else None)
        except InputError as exc:
            raise self._reject(bundle, str(exc), actor, source) from exc
        if self.holder is not None:
            self.holder.swap(engine)
        action = "rollback" if rollback else "activate"
        record = None
        if self.store is not None:
            record = self.store.record_activation(
                revision=bundle.revision,
                digest=bundle.digest,
                signer=engine.signer,
                action=action,
                source=source,
                actor=actor,
                bundle=bundle.to_tar_gz(),
            )
        self._audit(
            "policy.rolled_back" if rollback else "policy.activated",
            actor,
            {"revision": bundle.revision, "digest": bundle.digest, "signer": engine.signer, "source": source},
        )
        log.info("policy %s: revision %s (%s)", action, bundle.revision, bundle.digest)
        return Outcome(record, engine, True)

    def stage_candidate(
        self, bundle: PolicyBundle, *, actor: str = "system", source: str | None = None
    ) -> PolicyEngine:
        """Verify and validate `bundle` like an activation, then put it beside the active policy as the shadow
        candidate (evaluated on live traffic, never enforced). No anti-rollback: a candidate is not active."""
        if self.holder is None:
            raise InputError("shadow mode needs a running policy holder")
        try:
            signer = self.verify(bundle)
        except (SignatureError, InputError) as exc:
            raise self._reject(bundle, str(exc), actor, source) from exc
        problem = self.validate(bundle) if self.run_tests else None
        if problem is not None:
            raise self._reject(bundle, problem, actor, source)
        engine = PolicyEngine(bundle, fail_mode=self.fail_mode, signer=signer.describe() if signer else None)
        self.holder.set_candidate(engine)
        self._audit(
            "policy.shadow_started",
            actor,
            {"revision": bundle.revision, "digest": bundle.digest, "signer": engine.signer, "source": source},
        )
        return engine

    def rollback(self, revision: str | None = None, *, actor: str = "operator") -> Outcome:
        if self.store is None:
            raise InputError("rollback needs the policy database")
        target = self.store.find_revision(revision) if revision else self.store.previous()
        if target is None:
            raise InputError(
                f"no activated bundle with revision {revision!r}" if revision else "nothing to roll back to"
            )
        bundle = read_bundle_bytes(self.store.bundle_bytes(target.id), f"history #{target.id}")
        # History rows were verified when first activated; a cosign-signed bundle has no JWS to re-check.
        trusted = target.signer if target.signer and bundle.signatures is None else None
        return self.activate(
            bundle, actor=actor, source=f"rollback to #{target.id}", rollback=True, trusted_signer=trusted
        )
