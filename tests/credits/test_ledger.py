"""The credits ledger on SQLite and PostgreSQL: balances, idempotency, reservations, history, audit events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from shieldstorm.audit.log import AuditLog
from shieldstorm.credits import (
    CreditsLedger,
    IdempotencyConflict,
    InsufficientCredits,
    ReservationError,
)
from shieldstorm.errors import InputError


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[CreditsLedger]:
    opened = CreditsLedger.open(database_url)
    try:
        yield opened
    finally:
        opened.close()


async def test_topup_consume_and_balance(ledger: CreditsLedger) -> None:
    assert (await ledger.balance("acme")).available == 0
    top = await ledger.topup("acme", 100, reason="invoice 1")
    assert top.kind == "topup" and top.amount == 100 and top.balance_after == 100
    used = await ledger.consume("acme", 30, "req-1", reason="chat")
    assert used.kind == "consume" and used.amount == -30 and used.balance_after == 70
    assert not used.replayed
    balance = await ledger.balance("acme")
    assert (balance.available, balance.reserved) == (70, 0)
    assert (await ledger.balance("other")).available == 0


async def test_overdraft_is_refused_and_debits_nothing(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 10)
    with pytest.raises(InsufficientCredits) as caught:
        await ledger.consume("acme", 11, "req-1")
    assert caught.value.available == 10 and caught.value.required == 11
    assert caught.value.to_json_dict()["error"] == "insufficient_credits"
    assert (await ledger.balance("acme")).available == 10
    # the failed key was not consumed: after a top-up the same retry goes through
    await ledger.topup("acme", 5)
    assert (await ledger.consume("acme", 11, "req-1")).balance_after == 4
    with pytest.raises(InsufficientCredits):
        await ledger.consume("nobody", 1, "req-x")


async def test_balance_check_constraint_refuses_negative_balance(ledger: CreditsLedger) -> None:
    """Even a buggy direct UPDATE cannot drive the balance below zero: the database refuses it."""
    await ledger.topup("acme", 5)
    with pytest.raises(sa.exc.IntegrityError), ledger.engine.begin() as connection:
        connection.execute(sa.text("UPDATE credit_accounts SET balance = balance - 6 WHERE tenant = 'acme'"))
    assert (await ledger.balance("acme")).available == 5


async def test_idempotent_retry_debits_once_and_returns_same_movement(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 50)
    first = await ledger.consume("acme", 20, "req-7")
    again = await ledger.consume("acme", 20, "req-7")
    assert again.replayed and again.id == first.id and again.balance_after == first.balance_after == 30
    assert (await ledger.balance("acme")).available == 30
    with pytest.raises(IdempotencyConflict):
        await ledger.consume("acme", 21, "req-7")
    # keys are per tenant
    await ledger.topup("beta", 50)
    assert (await ledger.consume("beta", 20, "req-7")).balance_after == 30
    # keyed top-ups credit once
    credited = await ledger.topup("acme", 10, idempotency_key="inv-1")
    assert (await ledger.topup("acme", 10, idempotency_key="inv-1")).id == credited.id
    assert (await ledger.balance("acme")).available == 40


async def test_reservation_commit_refunds_unused_part(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 100)
    held = await ledger.reserve("acme", 40, "res-1")
    assert held.status == "held"
    balance = await ledger.balance("acme")
    assert (balance.available, balance.reserved) == (60, 40)
    assert (await ledger.reserve("acme", 40, "res-1")).id == held.id  # idempotent
    committed = await ledger.commit(held, 25)
    assert committed.kind == "commit" and committed.amount == 15 and committed.balance_after == 75
    assert (await ledger.commit(held.id, 25)).id == committed.id  # committing twice is a no-op
    balance = await ledger.balance("acme")
    assert (balance.available, balance.reserved) == (75, 0)
    assert (await ledger.reservation(held.id)).committed_amount == 25
    with pytest.raises(ReservationError):
        await ledger.cancel(held)


async def test_reservation_commit_above_hold_debits_the_excess_or_refuses(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 50)
    held = await ledger.reserve("acme", 40)
    with pytest.raises(InsufficientCredits):
        await ledger.commit(held, 100)  # needs 60 more, only 10 available
    assert (await ledger.reservation(held.id)).status == "held"
    movement = await ledger.commit(held, 45)
    assert movement.amount == -5 and movement.balance_after == 5
    assert (await ledger.balance("acme")).reserved == 0


async def test_reservation_cancel_and_insufficient_hold(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 30)
    with pytest.raises(InsufficientCredits):
        await ledger.reserve("acme", 31)
    held = await ledger.reserve("acme", 30)
    with pytest.raises(InsufficientCredits):
        await ledger.consume("acme", 1, "req-1")
    released = await ledger.cancel(held)
    assert released.kind == "cancel" and released.balance_after == 30
    assert (await ledger.cancel(held)).id == released.id
    with pytest.raises(ReservationError):
        await ledger.commit(held)
    with pytest.raises(ReservationError):
        await ledger.commit("no-such-reservation")


async def test_reservations_expire(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 30)
    short = await ledger.reserve("acme", 10, ttl=60)
    long = await ledger.reserve("acme", 5, ttl=3600)
    assert (await ledger.balance("acme")).available == 15
    later = datetime.now(UTC) + timedelta(minutes=5)
    expired = await ledger.expire_reservations(now=later)
    assert [m.reservation_id for m in expired] == [short.id]
    assert expired[0].kind == "expire"
    balance = await ledger.balance("acme")
    assert (balance.available, balance.reserved) == (25, 5)
    assert (await ledger.reservation(short.id)).status == "expired"
    with pytest.raises(ReservationError):
        await ledger.commit(short)
    assert (await ledger.cancel(short)).kind == "expire"  # already released: cancel is a no-op
    assert (await ledger.reservation(long.id)).status == "held"


async def test_commit_after_ttl_releases_and_raises(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 30)
    held = await ledger.reserve("acme", 10, ttl=0.05)
    import asyncio

    await asyncio.sleep(0.2)
    with pytest.raises(ReservationError, match="expired"):
        await ledger.commit(held)
    assert (await ledger.balance("acme")).available == 30


async def test_history_is_cursor_paged_newest_first(ledger: CreditsLedger) -> None:
    await ledger.topup("acme", 1000)
    for number in range(12):
        await ledger.consume("acme", 1, f"req-{number}")
    await ledger.topup("other", 5)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await ledger.history("acme", limit=5, cursor=cursor)
        seen.extend(item.id for item in page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 13 and seen == sorted(seen, reverse=True)
    first = await ledger.history("acme", limit=13)
    assert first.next_cursor is None and first.items[-1].kind == "topup"
    assert first.items[0].balance_after == 988
    with pytest.raises(InputError):
        await ledger.history("acme", cursor="abc")
    with pytest.raises(InputError):
        await ledger.history("acme", limit=0)


async def test_bad_input_is_one_line_input_error(ledger: CreditsLedger) -> None:
    for amount in (-1, 0, 1.5, True, 10**16):
        with pytest.raises(InputError):
            await ledger.topup("acme", amount)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        await ledger.consume("", 1, "k")
    with pytest.raises(InputError):
        await ledger.consume("acme", 1, "")
    with pytest.raises(InputError):
        await ledger.reserve("acme", 1, ttl=0)


async def test_every_movement_is_an_audit_event(database_url: str, tmp_path: Path) -> None:
    audit = AuditLog.open(database_url, data_dir=tmp_path / "state", checkpoint_interval=None)
    ledger = CreditsLedger.open(database_url, audit=audit)
    try:
        await ledger.topup("acme", 100)
        await ledger.consume("acme", 10, "req-1")
        await ledger.consume("acme", 10, "req-1")  # a replay writes no second event
        held = await ledger.reserve("acme", 20)
        await ledger.commit(held, 5)
        history = await ledger.history("acme")
        events = [entry.event for entry in audit.entries()]
        assert [e.event_type for e in events] == ["credits.movement"] * 4
        assert [e.data["kind"] for e in events] == ["topup", "consume", "reserve", "commit"]
        assert [e.data["movement_id"] for e in events] == sorted(m.id for m in history.items)
        assert events[-1].data["balance_after"] == 85 and events[-1].tenant == "acme"
        assert audit.verify().ok
        assert await ledger.replay_audit() == 4  # re-sending is deduplicated by event id
        assert audit.size == 4
    finally:
        ledger.close()
        audit.close()


async def test_retry_completes_the_audit_trail_after_an_audit_failure(database_url: str, tmp_path: Path) -> None:
    from shieldstorm.errors import ServiceUnavailableError

    broken = AuditLog.open(database_url, data_dir=tmp_path / "state", checkpoint_interval=None)
    broken.close()  # appends now fail after the ledger committed the movement
    ledger = CreditsLedger.open(database_url, audit=broken)
    try:
        await ledger.topup("acme", 10, idempotency_key="inv-1")
    except ServiceUnavailableError:
        pass
    else:
        raise AssertionError("a closed audit log must surface as an error")
    audit = AuditLog.open(database_url, data_dir=tmp_path / "state", checkpoint_interval=None)
    try:
        ledger.audit = audit
        again = await ledger.topup("acme", 10, idempotency_key="inv-1")  # the client's retry
        assert again.replayed and (await ledger.balance("acme")).available == 10
        events = [entry.event for entry in audit.entries()]
        assert [e.event_id for e in events] == [f"credits.{again.id}"]
        await ledger.topup("acme", 10, idempotency_key="inv-1")
        assert audit.size == 1
    finally:
        ledger.close()
        audit.close()
