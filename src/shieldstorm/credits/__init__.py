"""Credits ledger: metered usage per tenant (accounts, top-ups, consumption, reservations, cost rules)."""

from shieldstorm.credits.costs import CostRule, CostRules, Price
from shieldstorm.credits.http import payment_required, usage_headers
from shieldstorm.credits.ledger import CreditsLedger
from shieldstorm.credits.models import (
    Balance,
    HistoryPage,
    IdempotencyConflict,
    InsufficientCredits,
    Movement,
    Reservation,
    ReservationError,
)

__all__ = [
    "Balance",
    "CostRule",
    "CostRules",
    "CreditsLedger",
    "HistoryPage",
    "IdempotencyConflict",
    "InsufficientCredits",
    "Movement",
    "Price",
    "Reservation",
    "ReservationError",
    "payment_required",
    "usage_headers",
]
