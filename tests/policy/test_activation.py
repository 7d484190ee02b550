"""Activation lifecycle on SQLite and PostgreSQL: history, anti-rollback, rollback, rejections, audit events."""

from __future__ import annotations

from pathlib import Path

import pytest

from shieldstorm.audit.log import AuditLog
from shieldstorm.policy import PolicyEngine, PolicyHolder
from shieldstorm.policy.activation import PolicyManager, PolicyRejected, revision_key
from shieldstorm.policy.signing import generate_key
from shieldstorm.policy.store import PolicyStore
from tests.policy.helpers import make_bundle


def test_revision_order() -> None:
    assert revision_key("9") < revision_key("10")
    assert revision_key("1.2.9") < revision_key("1.2.10")
    assert revision_key("2026-01-02") < revision_key("2026-01-10")


def audit_types(log: AuditLog) -> list[str]:
    return [entry.event.event_type for entry in log.entries()]


def test_lifecycle(database_url: str, tmp_path: Path) -> None:
    private, public = generate_key("Ed25519")
    store = PolicyStore.open(database_url)
    audit = AuditLog.open(database_url, data_dir=tmp_path / "state", checkpoint_interval=None)
    holder = PolicyHolder(PolicyEngine(make_bundle("0")))
    manager = PolicyManager(holder, store, public_keys=[public], audit=audit)
    try:
        first = manager.activate(make_bundle("1", key=private), actor="alice", source="test")
        assert first.changed
        assert holder.evaluate({"risk": 0}).reasons == ["rev-1"]
        manager.activate(make_bundle("2", key=private, limit=0.1), actor="alice")
        assert holder.evaluate({"risk": 0.3}).decision == "block"

        # Same content again: a no-op. An older or equal revision: refused, the active policy untouched.
        assert not manager.activate(make_bundle("2", key=private, limit=0.1)).changed
        with pytest.raises(PolicyRejected, match="does not increase"):
            manager.activate(make_bundle("1", key=private, tag="old"))
        with pytest.raises(PolicyRejected, match="not signed"):
            manager.activate(make_bundle("3"))
        with pytest.raises(PolicyRejected, match="does not verify"):
            manager.activate(make_bundle("3", key=generate_key("Ed25519")[0]))
        failing = (
            "package shield\nimport rego.v1\n"
            'test_fails if {\n    decision.decision == "block" with input as {"risk": 0}\n}\n'
        )
        with pytest.raises(PolicyRejected, match="test"):
            manager.activate(make_bundle("3", key=private, test=failing))
        with pytest.raises(PolicyRejected, match="compile"):
            manager.activate(make_bundle("3", key=private, policy="package shield\ndecision := := 1\n"))
        assert holder.evaluate({"risk": 0}).reasons == ["rev-2"]

        rolled = manager.rollback()
        assert rolled.activation is not None and rolled.activation.revision == "1"
        assert holder.evaluate({"risk": 0.3}).decision == "allow"
        manager.rollback("2")
        assert holder.engine.revision == "2"

        history = store.history()
        assert [h.revision for h in history] == ["2", "1", "2", "1"]
        assert [h.action for h in history] == ["rollback", "rollback", "activate", "activate"]
        assert history[-1].signer is not None and history[-1].signer.startswith("Ed25519:")
        assert all(h.digest.startswith("sha256:") for h in history)
        types = audit_types(audit)
        assert types.count("policy.activated") == 2
        assert types.count("policy.rejected") == 5
        assert types.count("policy.rolled_back") == 2
    finally:
        audit.close()
        store.close()
