"""Credits in the Shield: usage headers, idempotent charges, 402 when a request would overdraw (SQLite and
PostgreSQL)."""

from __future__ import annotations

import hashlib

import aiohttp

from shieldstorm.credits import CreditsLedger
from tests.shield.conftest import ShieldFactory, Upstream, base_config


async def test_requests_are_charged_and_refused_with_402(database_url: str, upstream: Upstream,
                                                         start_shield: ShieldFactory):
    ledger = CreditsLedger.open(database_url)
    try:
        await ledger.topup("acme", 3, reason="test")
    finally:
        ledger.close()
    config = base_config(upstream.url, credits={"enabled": True, "url": database_url}, identity={
        "allow_anonymous": False,
        "api_keys": [{"key_sha256": hashlib.sha256(b"k1").hexdigest(), "tenant": "acme", "principal": "svc"}]})
    shield = await start_shield(config)
    auth = {"X-API-Key": "k1"}
    remaining = []
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(shield.url + "/x", headers=auth) as response:
                assert response.status == 200
                remaining.append(response.headers["X-Credits-Remaining"])
        retry = {**auth, "Idempotency-Key": "order-1"}
        for _ in range(2):  # the same request retried: charged once
            async with session.get(shield.url + "/x", headers=retry) as response:
                assert response.status == 200
                remaining.append(response.headers["X-Credits-Remaining"])
        async with session.get(shield.url + "/x", headers=auth) as response:
            assert response.status == 402
            body = await response.json()
            assert response.headers["X-Credits-Required"] == "1"
    assert remaining == ["2", "1", "0", "0"]
    assert body["error"] == "insufficient_credits" and body["correlation_id"]
    assert len(upstream.requests) == 4
