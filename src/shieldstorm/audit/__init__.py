"""Tamper-evident audit log: canonical events in an RFC 9162 Merkle tree with signed checkpoints."""

from shieldstorm.audit.canonical import canonical_json
from shieldstorm.audit.events import AuditEvent

__all__ = ["AuditEvent", "canonical_json"]
