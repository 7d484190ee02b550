from __future__ import annotations

from pathlib import Path
from typing import Any

from shieldstorm.audit.events import AuditEvent
from shieldstorm.audit.log import AuditLog


def make_event(number: int, **extra: Any) -> AuditEvent:
    return AuditEvent(
        event_type="shield.decision",
        actor="gateway",
        tenant=f"tenant-{number % 3}",
        correlation_id=f"req-{number}",
        data={"n": number, "decision": "allow", **extra},
        event_id=f"evt-{number:08d}",
    )


def open_log(url: str, tmp_path: Path, **options: Any) -> AuditLog:
    options.setdefault("checkpoint_interval", None)
    return AuditLog.open(url, data_dir=tmp_path / "state", **options)
