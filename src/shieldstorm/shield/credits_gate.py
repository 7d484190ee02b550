"""Credits in the Shield (when `credits.enabled`): each admitted request is charged before it is forwarded.

Cost = the cost rules (`credits.cost_rules` YAML, default: the ledger's bundled rules) for the route, method and
model, with input tokens estimated as characters / 4 of the scanned text. The charge is idempotent per request
(key: the client's `Idempotency-Key` header, else the correlation id), so a retried request is not charged twice.
A request that would overdraw gets 402 with a JSON body; admitted responses carry X-Credits-* usage headers.
Output tokens are not charged (the Shield does not count them yet).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from shieldstorm.shield.config import CreditsConfig


@dataclass
class Charge:
    ok: bool
    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None


class CreditsGate:
    def __init__(self, config: CreditsConfig) -> None:
        from shieldstorm.credits import CostRules

        self.config = config
        self.rules = CostRules.load(config.cost_rules) if config.cost_rules else CostRules.default_rules()
        self.ledger: Any = None

    async def open(self) -> None:
        from shieldstorm.credits import CreditsLedger

        self.ledger = await asyncio.to_thread(CreditsLedger.open, self.config.url)

    def cost(self, path: str, method: str, model: str | None, text_chars: int) -> int:
        return int(self.rules.cost(path.split("?", 1)[0], method=method, model=model, input_tokens=text_chars // 4))

    async def charge(self, tenant: str, amount: int, key: str) -> Charge:
        from shieldstorm.credits import IdempotencyConflict, InsufficientCredits, payment_required, usage_headers

        try:
            movement = await self.ledger.consume(tenant, amount, key, reason="shield request")
        except InsufficientCredits as exc:
            status, body, headers = payment_required(exc)
            return Charge(False, status, headers, body)
        except IdempotencyConflict:
            return Charge(False, 409, {}, {"error": "idempotency_conflict",
                                           "message": "Idempotency-Key reused for a request with another cost"})
        return Charge(True, 200, usage_headers(movement), None)

    async def balance(self, tenant: str) -> Any:
        return await self.ledger.balance(tenant)

    async def close(self) -> None:
        if self.ledger is not None:
            await asyncio.to_thread(self.ledger.close)
