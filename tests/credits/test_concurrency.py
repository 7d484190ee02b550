"""50 concurrent consumers with overlapping idempotency keys must give exact balances (real PostgreSQL + SQLite)."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
import sqlalchemy as sa

from shieldstorm.credits import CreditsLedger, InsufficientCredits, Movement


async def test_fifty_concurrent_consumers_with_overlapping_keys(database_url: str) -> None:
    # Two ledgers (two engines, two connection pools) act like two gateway processes sharing the database.
    first, second = CreditsLedger.open(database_url, max_workers=8), CreditsLedger.open(database_url, max_workers=8)
    try:
        await first.topup("acme", 1000)
        keys = [f"req-{n % 20}" for n in range(50)]  # 20 distinct keys, each retried 2-3 times concurrently

        async def consumer(number: int) -> Movement:
            ledger = first if number % 2 else second
            return await ledger.consume("acme", 7, keys[number], reason=f"consumer {number}")

        results = await asyncio.gather(*(consumer(n) for n in range(50)))
        by_key: dict[str, set[int]] = defaultdict(set)
        for result in results:
            assert result.idempotency_key is not None
            by_key[result.idempotency_key].add(result.id)
        assert all(len(ids) == 1 for ids in by_key.values()), "one key produced two movements"
        assert len(by_key) == 20
        assert sum(not result.replayed for result in results) == 20
        assert (await first.balance("acme")).available == 1000 - 20 * 7
        with first.engine.connect() as connection:
            stored = connection.execute(
                sa.text("SELECT count(*), sum(amount) FROM credit_movements WHERE tenant = 'acme' AND kind = 'consume'")
            ).one()
        assert (stored[0], stored[1]) == (20, -140)
    finally:
        first.close()
        second.close()


async def test_concurrent_consumers_never_overdraw(database_url: str) -> None:
    ledger = CreditsLedger.open(database_url, max_workers=10)
    try:
        await ledger.topup("acme", 100)
        keys = [f"req-{n % 40}" for n in range(50)]

        async def consumer(number: int) -> Movement | None:
            try:
                return await ledger.consume("acme", 3, keys[number])
            except InsufficientCredits:
                return None

        results = await asyncio.gather(*(consumer(n) for n in range(50)))
        succeeded = {result.idempotency_key for result in results if result is not None}
        assert len(succeeded) == 33  # 33 * 3 = 99 <= 100 < 34 * 3
        balance = await ledger.balance("acme")
        assert balance.available == 1
        history = await ledger.history("acme", limit=100)
        assert sum(m.amount for m in history.items) == 1
        assert all(m.balance_after >= 0 for m in history.items)
    finally:
        ledger.close()


@pytest.mark.parametrize("holders", [25])
async def test_concurrent_reservations_and_commits_balance_exactly(database_url: str, holders: int) -> None:
    ledger = CreditsLedger.open(database_url)
    try:
        await ledger.topup("acme", 500)

        async def flow(number: int) -> None:
            held = await ledger.reserve("acme", 10, f"res-{number}")
            await ledger.reserve("acme", 10, f"res-{number}")  # a retry holds nothing more
            if number % 3 == 0:
                await ledger.cancel(held)
            else:
                await asyncio.gather(ledger.commit(held, 4), ledger.commit(held, 4))

        await asyncio.gather(*(flow(n) for n in range(holders)))
        committed = sum(1 for n in range(holders) if n % 3)
        balance = await ledger.balance("acme")
        assert (balance.available, balance.reserved) == (500 - 4 * committed, 0)
    finally:
        ledger.close()
