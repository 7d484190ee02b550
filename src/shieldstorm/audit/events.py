"""The audit event model and the leaf record that goes into the Merkle tree.

Callers MUST pass redacted data: an audit event is kept forever and shipped to SIEMs, so it never
carries a raw secret, token, password or unredacted PII value — only their kind, location and a
fingerprint when needed (e.g. `{"finding": "aws_key", "sha256_prefix": "1a2b3c4d"}`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from shieldstorm.audit.canonical import CanonicalJSONError, canonical_json

# The kinds of events the platform writes. Other dotted names are accepted (`<area>.<what>`).
KNOWN_EVENT_TYPES = frozenset(
    {
        "shield.decision",
        "policy.activated",
        "policy.rejected",
        "policy.changed",
        "admin.action",
        "storm.run",
        "credits.movement",
    }
)

_encode_string = json.encoder.encode_basestring  # C-accelerated; the same string escaping as canonical_json
MAX_EVENT_BYTES = 1 << 20  # one audit event stays below 1 MiB once encoded
# to_json_dict()'s own keys and values (ASCII keys; strings or None, validated by the model) need no fast-path check
_ENVELOPE_KEYS = frozenset({"event_type", "timestamp", "actor", "tenant", "correlation_id", "event_id"})


def _now() -> datetime:
    return datetime.now(UTC)


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z` suffix, e.g. `2026-11-23T09:10:57.123456Z`."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # isoformat is several times faster than strftime and identical for 4-digit years
        return moment.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _optional(value: str | None) -> str:
    return "null" if value is None else _encode_string(value)


def _canonical_envelope(event: AuditEvent) -> bytes | None:
    """canonical_json(event.to_json_dict()) with the envelope written directly, or None if a field is not a plain
    str (e.g. built with model_construct): then the generic encoder decides.

    The members in canonical order (ASCII keys, so UTF-16 order is byte order): actor, correlation_id, data,
    event_id, event_type, tenant, timestamp. Only `data` goes through canonical_json.
    """
    actor, correlation_id, tenant = event.actor, event.correlation_id, event.tenant
    event_id, event_type, data = event.event_id, event.event_type, event.data
    if not (
        type(actor) is str
        and type(event_id) is str
        and type(event_type) is str
        and (tenant is None or type(tenant) is str)
        and (correlation_id is None or type(correlation_id) is str)
        and type(data) is dict
    ):
        return None
    encoded_data = canonical_json(data)
    try:
        head = f'{{"actor":{_encode_string(actor)},"correlation_id":{_optional(correlation_id)},"data":'.encode()
        tail = (
            f',"event_id":{_encode_string(event_id)},"event_type":{_encode_string(event_type)},'
            f'"tenant":{_optional(tenant)},"timestamp":"{format_timestamp(event.timestamp)}"}}'
        ).encode()
    except UnicodeEncodeError as exc:
        raise CanonicalJSONError("canonical JSON cannot encode a lone surrogate") from exc
    return head + encoded_data + tail


class AuditEvent(BaseModel):
    """One audited fact. `event_id` is unique: appending the same id twice stores it once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: str = Field(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
    timestamp: datetime = Field(default_factory=_now)
    actor: str = Field(default="system", max_length=256)
    tenant: str | None = Field(default=None, max_length=256)
    correlation_id: str | None = Field(default=None, max_length=256)
    data: dict[str, Any] = Field(default_factory=dict)
    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64)

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp must carry a timezone (RFC 3339)")
        return value.astimezone(UTC)

    @field_serializer("timestamp")
    def _rfc3339(self, value: datetime) -> str:
        return format_timestamp(value)

    def to_json_dict(self) -> dict[str, Any]:
        # Same result as model_dump() (python mode keeps `data` as given, so NaN reaches canonical_json and is
        # rejected), built directly: this is on every append's path and pydantic's dump costs ~4x more.
        return {
            "event_type": self.event_type,
            "timestamp": format_timestamp(self.timestamp),
            "actor": self.actor,
            "tenant": self.tenant,
            "correlation_id": self.correlation_id,
            "data": self.data,
            "event_id": self.event_id,
        }

    def canonical(self) -> bytes:
        """The event's one canonical encoding (raises InputError if `data` is not canonical-JSON-able)."""
        encoded = _canonical_envelope(self)
        if encoded is None:
            encoded = canonical_json(self.to_json_dict(), trusted_keys=_ENVELOPE_KEYS)
        if len(encoded) > MAX_EVENT_BYTES:
            from shieldstorm.errors import InputError

            raise InputError(f"audit event {self.event_id} is {len(encoded)} bytes, above the {MAX_EVENT_BYTES} limit")
        return encoded

    @classmethod
    def from_canonical(cls, encoded: bytes) -> AuditEvent:
        return cls.model_validate_json(encoded)


def leaf_record(event_bytes: bytes, index: int) -> bytes:
    """The bytes hashed into leaf `index`: canonical `{"event": <event>, "index": <index>}`.

    Binding the index into the leaf lets the verifier name a reordered or inserted entry exactly.
    Keys "event" < "index" are already in canonical order, so splicing keeps the encoding canonical.
    """
    return b'{"event":' + event_bytes + b',"index":' + str(index).encode() + b"}"
