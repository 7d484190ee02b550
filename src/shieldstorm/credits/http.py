"""HTTP helpers for the Shield: the 402 body and the usage headers put on responses."""

from __future__ import annotations

from typing import Any

from shieldstorm.credits.models import InsufficientCredits, Movement

HEADER_CHARGED = "X-Credits-Charged"
HEADER_REMAINING = "X-Credits-Remaining"
HEADER_REQUIRED = "X-Credits-Required"


def usage_headers(movement: Movement) -> dict[str, str]:
    """Headers for a response whose request was charged by `movement` (a consume or a reservation commit)."""
    charged = -movement.amount if movement.kind == "consume" else None
    headers = {HEADER_REMAINING: str(movement.balance_after)}
    if charged is not None:
        headers[HEADER_CHARGED] = str(charged)
    return headers


def payment_required(exc: InsufficientCredits) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status 402, JSON body, headers) for a request that would overdraw."""
    headers = {HEADER_REMAINING: str(exc.available), HEADER_REQUIRED: str(exc.required)}
    return 402, exc.to_json_dict(), headers
