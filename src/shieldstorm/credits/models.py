"""Value objects and errors of the credits ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shieldstorm.errors import InputError, ShieldStormError

MovementKind = Literal["topup", "consume", "reserve", "commit", "cancel", "expire"]
ReservationStatus = Literal["held", "committed", "cancelled", "expired"]


class InsufficientCredits(ShieldStormError):
    """The tenant's balance does not cover the amount (HTTP 402 in the Shield)."""

    def __init__(self, tenant: str, required: int, available: int) -> None:
        super().__init__(f"tenant {tenant!r} has {available} credits available, {required} required")
        self.tenant = tenant
        self.required = required
        self.available = available

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "error": "insufficient_credits",
            "message": str(self),
            "tenant": self.tenant,
            "required": self.required,
            "available": self.available,
        }


class IdempotencyConflict(InputError):
    """An idempotency key was reused for a different operation or amount."""


class ReservationError(InputError):
    """A reservation is unknown, already settled the other way, or expired."""


class Balance(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    available: int  # spendable now
    reserved: int  # held by open reservations (already deducted from `available`)


class Movement(BaseModel):
    """One change of a tenant's balance; `amount` is signed (+ credit, - debit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int
    tenant: str
    kind: MovementKind
    amount: int
    balance_after: int
    idempotency_key: str | None
    reservation_id: str | None
    reason: str
    created: datetime
    replayed: bool = False  # True when an idempotent retry returned the original movement

    def to_json_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["created"] = as_utc(self.created).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return data


class Reservation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    tenant: str
    amount: int
    status: ReservationStatus
    committed_amount: int | None
    idempotency_key: str | None
    reason: str
    expires_at: datetime
    created: datetime
    replayed: bool = False


class HistoryPage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[Movement]
    next_cursor: str | None  # pass back to get the next (older) page; None at the end


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes (stored as UTC); PostgreSQL returns aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
