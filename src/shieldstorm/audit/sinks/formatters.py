"""Formatters for SIEMs: JSON lines, ArcSight CEF and syslog RFC 5424. Each turns (event, leaf index) into one line.

Events are already redacted by their producers (see audit.events), so formatters ship them as they are.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shieldstorm import __version__
from shieldstorm.audit.canonical import canonical_json
from shieldstorm.audit.events import AuditEvent, format_timestamp

FormatName = Literal["jsonl", "cef", "syslog"]
FORMATS: tuple[FormatName, ...] = ("jsonl", "cef", "syslog")

# Enterprise number 32473 is IANA's reserved example PEN (RFC 5612); deployments can set their own.
DEFAULT_SD_ID = "shieldstorm@32473"
FACILITY_LOG_AUDIT = 13

# decision / severity words -> (CEF severity 0-10, syslog severity 0-7)
_SEVERITIES: dict[str, tuple[int, int]] = {
    "block": (8, 4),
    "critical": (10, 2),
    "high": (8, 3),
    "challenge": (6, 4),
    "medium": (5, 4),
    "redact": (4, 5),
    "low": (3, 5),
    "allow": (2, 6),
    "info": (1, 6),
}
_DEFAULT_SEVERITY = (3, 6)


def _severity(event: AuditEvent) -> tuple[int, int]:
    for key in ("decision", "severity"):
        value = event.data.get(key)
        if isinstance(value, str) and value.lower() in _SEVERITIES:
            return _SEVERITIES[value.lower()]
    return _DEFAULT_SEVERITY


def record(event: AuditEvent, index: int | None) -> dict[str, Any]:
    """The JSON object shipped for one entry: the event plus its leaf index (None when not yet in the tree)."""
    return {"index": index, "event": event.to_json_dict()}


def format_jsonl(event: AuditEvent, index: int | None) -> str:
    """One canonical JSON object per line (`{"event": {...}, "index": n}`)."""
    return canonical_json(record(event, index)).decode()


# --- CEF ------------------------------------------------------------------------------------------------------


def _cef_header(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _cef_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def format_cef(
    event: AuditEvent, index: int | None, *, vendor: str = "ShieldStorm", product: str = "ShieldStorm"
) -> str:
    """ArcSight Common Event Format 0: `CEF:0|vendor|product|version|class id|name|severity|extension`."""
    cef_severity, _ = _severity(event)
    name = event.event_type
    decision = event.data.get("decision")
    if isinstance(decision, str):
        name = f"{event.event_type} {decision}"
    extension: list[tuple[str, str]] = [
        ("rt", str(int(event.timestamp.timestamp() * 1000))),
        ("externalId", event.event_id),
        ("suser", event.actor),
    ]
    if event.tenant is not None:
        extension += [("cs1Label", "tenant"), ("cs1", event.tenant)]
    if event.correlation_id is not None:
        extension += [("cs2Label", "correlationId"), ("cs2", event.correlation_id)]
    if index is not None:
        extension += [("cn1Label", "leafIndex"), ("cn1", str(index))]
    extension.append(("msg", canonical_json(event.data).decode()))
    header = "|".join(
        _cef_header(part)
        for part in ("CEF:0", vendor, product, __version__, event.event_type, name, str(cef_severity))
    )
    return header + "|" + " ".join(f"{key}={_cef_value(value)}" for key, value in extension)


# --- syslog RFC 5424 ------------------------------------------------------------------------------------------


def _printable_ascii(value: str, limit: int) -> str:
    cleaned = "".join(ch if 33 <= ord(ch) <= 126 else "_" for ch in value)[:limit]
    return cleaned or "-"


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


@dataclass(frozen=True)
class SyslogFormatter:
    """RFC 5424 messages: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] BOM+JSON`. Facility 13 (log audit)."""

    hostname: str = ""
    app_name: str = "shieldstorm"
    facility: int = FACILITY_LOG_AUDIT
    sd_id: str = DEFAULT_SD_ID
    procid: str = "-"

    def __call__(self, event: AuditEvent, index: int | None) -> str:
        _, severity = _severity(event)
        pri = self.facility * 8 + severity
        host = _printable_ascii(self.hostname or socket.gethostname(), 255)
        params = [("event_id", event.event_id), ("actor", event.actor)]
        if event.tenant is not None:
            params.append(("tenant", event.tenant))
        if event.correlation_id is not None:
            params.append(("correlation_id", event.correlation_id))
        if index is not None:
            params.append(("index", str(index)))
        structured = "[" + self.sd_id + "".join(f' {key}="{_sd_value(value)}"' for key, value in params) + "]"
        message = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        return (
            f"<{pri}>1 {format_timestamp(event.timestamp)} {host} {_printable_ascii(self.app_name, 48)} "
            f"{_printable_ascii(self.procid, 128)} {_printable_ascii(event.event_type, 32)} {structured} "
            f"\ufeff{message}"
        )


def format_syslog(event: AuditEvent, index: int | None) -> str:
    return SyslogFormatter()(event, index)


Formatter = Callable[[AuditEvent, "int | None"], str]


def formatter(name: str) -> Formatter:
    from shieldstorm.errors import InputError

    table: dict[str, Formatter] = {"jsonl": format_jsonl, "cef": format_cef, "syslog": format_syslog}
    if name not in table:
        raise InputError(f"unknown export format {name!r} (choose from {', '.join(FORMATS)})")
    return table[name]
