"""The credits ledger: per-tenant balances, top-ups, consumption, reservations, cursor-paged history.

Correctness rests on the database, not on this process:
- `credit_accounts.balance` has CHECK (balance >= 0), and every debit is one guarded statement
  `UPDATE ... SET balance = balance - :n WHERE tenant = :t AND balance >= :n RETURNING balance`, so two racing
  debits can never both pass a stale read (there is no read-then-write);
- an idempotency key is a UNIQUE (tenant, key) column of the movement (or reservation) row written in the SAME
  transaction as the debit. A concurrent retry with the same key either sees the committed row first, or blocks on
  the unique index / account row lock and then fails its insert: its transaction (debit included) rolls back and
  the original movement is returned. So one key debits once, whatever the interleaving.

Async API over the sync SQLAlchemy engine in a bounded thread pool: it shares engines, dialect set-up and Alembic
migrations with the audit log and the rest of the store (SQLite needs no extra async driver), every call is one short
transaction, and the pool size bounds concurrent connections. SQLite transactions start with BEGIN IMMEDIATE so a
read-then-write transaction waits for the write lock up front instead of failing with "database is locked".
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shieldstorm.credits import schema
from shieldstorm.credits.models import (
    Balance,
    HistoryPage,
    IdempotencyConflict,
    InsufficientCredits,
    Movement,
    Reservation,
    ReservationError,
    as_utc,
)
from shieldstorm.errors import InputError, ServiceUnavailableError

if TYPE_CHECKING:
    from shieldstorm.audit.log import AuditLog

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_AMOUNT = 10**15  # far below BIGINT; rejects absurd input before it reaches SQL
DEFAULT_RESERVATION_TTL = 300.0
MAX_PAGE = 1000


def _now() -> datetime:
    return datetime.now(UTC)


def _check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not tenant or len(tenant) > 256 or not tenant.isprintable():
        raise InputError("tenant must be a non-empty printable string of at most 256 characters")
    return tenant


def _check_amount(amount: int, *, allow_zero: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InputError(f"credit amounts are whole numbers, got {amount!r}")
    if amount < 0 or (amount == 0 and not allow_zero) or amount > MAX_AMOUNT:
        low = 0 if allow_zero else 1
        raise InputError(f"credit amount must be between {low} and {MAX_AMOUNT}, got {amount}")
    return amount


def _check_key(key: str | None) -> str | None:
    if key is not None and (not isinstance(key, str) or not key or len(key) > 256):
        raise InputError("idempotency key must be a non-empty string of at most 256 characters")
    return key


def _reason(reason: str) -> str:
    return reason[:512]


def _sqlite_autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit the BEGIN itself (pysqlite would otherwise defer it).
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _movement(row: Any, *, replayed: bool = False) -> Movement:
    return Movement(
        id=int(row.id),
        tenant=row.tenant,
        kind=row.kind,
        amount=int(row.amount),
        balance_after=int(row.balance_after),
        idempotency_key=row.idempotency_key,
        reservation_id=row.reservation_id,
        reason=row.reason,
        created=as_utc(row.created),
        replayed=replayed,
    )


def _reservation(row: Any, *, replayed: bool = False) -> Reservation:
    return Reservation(
        id=row.id,
        tenant=row.tenant,
        amount=int(row.amount),
        status=row.status,
        committed_amount=None if row.committed_amount is None else int(row.committed_amount),
        idempotency_key=row.idempotency_key,
        reason=row.reason,
        expires_at=as_utc(row.expires_at),
        created=as_utc(row.created),
        replayed=replayed,
    )


def _is_unique_violation(exc: sa.exc.IntegrityError) -> bool:
    text = str(exc.orig).lower()
    return "unique" in text or "duplicate key" in text


class CreditsLedger:
    """Per-tenant credit accounts on SQLite or PostgreSQL. Safe for concurrent use from many tasks and processes."""

    def __init__(
        self,
        engine: Engine,
        *,
        audit: AuditLog | None = None,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        max_workers: int = 8,
        actor: str = "credits",
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.reservation_ttl = reservation_ttl
        self.actor = actor
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="credits")
        self._for_update = engine.dialect.name == "postgresql"

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        audit: AuditLog | None = None,
        run_migrations: bool = True,
        max_workers: int = 8,
        **options: Any,
    ) -> CreditsLedger:
        """Open (and migrate) the ledger at `url` (default: store.default_database_url())."""
        from shieldstorm.store import database

        resolved = database.normalise_url(url or database.default_database_url())
        engine_options: dict[str, Any] = {}
        if resolved.startswith("postgresql"):
            # One connection per worker thread, none beyond: the pool never becomes the bottleneck or the leak.
            engine_options.update(pool_size=max_workers, max_overflow=0, connect_args={"connect_timeout": 5})
        engine = database.create_engine(resolved, **engine_options)
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_autocommit_driver)
            sa.event.listen(engine, "begin", _sqlite_begin_immediate)
        if run_migrations:
            try:
                database.migrate(engine)
            except sa.exc.OperationalError as exc:
                engine.dispose()
                raise ServiceUnavailableError(f"credits database unreachable: {exc.orig}") from exc
        return cls(engine, audit=audit, max_workers=max_workers, **options)

    # --- plumbing ---------------------------------------------------------------------------------------------

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except sa.exc.OperationalError as exc:
            raise ServiceUnavailableError(f"credits database unreachable: {exc.orig}") from exc

    async def _audit(self, movement: Movement) -> None:
        """Every movement is also an audit event; its id is derived from the movement so re-sending is harmless.

        Replays re-send too: if the first attempt committed the movement but failed before its audit event was
        durable, the client's retry (same idempotency key) completes the audit trail; the log stores an id once."""
        if self.audit is None:
            return
        from shieldstorm.audit.events import AuditEvent

        event = AuditEvent(
            event_type="credits.movement",
            actor=self.actor,
            tenant=movement.tenant,
            correlation_id=movement.idempotency_key or movement.reservation_id,
            data={
                "movement_id": movement.id,
                "kind": movement.kind,
                "amount": movement.amount,
                "balance_after": movement.balance_after,
                "reservation_id": movement.reservation_id,
                "reason": movement.reason,
            },
            event_id=f"credits.{movement.id}",
            timestamp=movement.created,
        )
        await self.audit.append_async(event)

    def _ensure_account(self, connection: Connection, tenant: str, now: datetime) -> None:
        insert: Any
        if connection.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        statement = insert(schema.accounts).values(tenant=tenant, balance=0, reserved=0, created=now, updated=now)
        connection.execute(statement.on_conflict_do_nothing(index_elements=["tenant"]))

    def _available(self, connection: Connection, tenant: str) -> int:
        value = connection.execute(
            sa.select(schema.accounts.c.balance).where(schema.accounts.c.tenant == tenant)
        ).scalar()
        return int(value or 0)

    def _insert_movement(self, connection: Connection, **values: Any) -> Movement:
        row = connection.execute(schema.movements.insert().values(**values).returning(*schema.movements.c)).one()
        return _movement(row)

    def _movement_by_key(self, connection: Connection, tenant: str, key: str) -> Any:
        return connection.execute(
            sa.select(schema.movements).where(
                schema.movements.c.tenant == tenant, schema.movements.c.idempotency_key == key
            )
        ).first()

    def _replay(self, existing: Any, kind: str, signed_amount: int) -> Movement:
        if existing.kind != kind or int(existing.amount) != signed_amount:
            raise IdempotencyConflict(
                f"idempotency key {existing.idempotency_key!r} was already used for a {existing.kind} of "
                f"{abs(int(existing.amount))} credits"
            )
        return _movement(existing, replayed=True)

    def _keyed(
        self, tenant: str, key: str | None, kind: str, signed: int, body: Callable[[Connection], Movement]
    ) -> Movement:
        """Run `body` in one transaction guarded by the idempotency key (see the module docstring)."""
        try:
            with self.engine.begin() as connection:
                if key is not None:
                    existing = self._movement_by_key(connection, tenant, key)
                    if existing is not None:
                        return self._replay(existing, kind, signed)
                return body(connection)
        except sa.exc.IntegrityError as exc:
            if key is None or not _is_unique_violation(exc):
                raise
        # A concurrent request with the same key committed first; our transaction (debit included) rolled back.
        with self.engine.connect() as connection:
            existing = self._movement_by_key(connection, tenant, key)
        if existing is None:  # pragma: no cover - the unique violation implies the row exists
            raise ServiceUnavailableError("idempotency conflict without a stored movement")
        return self._replay(existing, kind, signed)

    # --- top-ups and consumption ------------------------------------------------------------------------------

    def _topup_sync(self, tenant: str, amount: int, key: str | None, reason: str) -> Movement:
        def body(connection: Connection) -> Movement:
            now = _now()
            self._ensure_account(connection, tenant, now)
            balance = connection.execute(
                sa.update(schema.accounts)
                .where(schema.accounts.c.tenant == tenant)
                .values(balance=schema.accounts.c.balance + amount, updated=now)
                .returning(schema.accounts.c.balance)
            ).scalar_one()
            return self._insert_movement(
                connection, tenant=tenant, kind="topup", amount=amount, balance_after=int(balance),
                idempotency_key=key, reservation_id=None, reason=reason, created=now,
            )

        return self._keyed(tenant, key, "topup", amount, body)

    async def topup(
        self, tenant: str, amount: int, *, idempotency_key: str | None = None, reason: str = "topup"
    ) -> Movement:
        """Add credits (creating the account on first use). With a key, a retried top-up credits once."""
        movement = await self._run(
            self._topup_sync, _check_tenant(tenant), _check_amount(amount), _check_key(idempotency_key), _reason(reason)
        )
        await self._audit(movement)
        return movement

    def _consume_sync(self, tenant: str, amount: int, key: str, reason: str) -> Movement:
        def body(connection: Connection) -> Movement:
            now = _now()
            balance = connection.execute(
                sa.update(schema.accounts)
                .where(schema.accounts.c.tenant == tenant, schema.accounts.c.balance >= amount)
                .values(balance=schema.accounts.c.balance - amount, updated=now)
                .returning(schema.accounts.c.balance)
            ).scalar()
            if balance is None:
                raise InsufficientCredits(tenant, amount, self._available(connection, tenant))
            return self._insert_movement(
                connection, tenant=tenant, kind="consume", amount=-amount, balance_after=int(balance),
                idempotency_key=key, reservation_id=None, reason=reason, created=now,
            )

        return self._keyed(tenant, key, "consume", -amount, body)

    async def consume(self, tenant: str, amount: int, idempotency_key: str, *, reason: str = "usage") -> Movement:
        """Debit `amount` or raise InsufficientCredits (nothing debited). Retries with the same key debit once and
        return the original movement (`replayed=True`); reusing a key for another amount raises IdempotencyConflict.
        `amount=0` records a free request."""
        key = _check_key(idempotency_key)
        if key is None:
            raise InputError("consume needs an idempotency key")
        movement = await self._run(
            self._consume_sync, _check_tenant(tenant), _check_amount(amount, allow_zero=True), key, _reason(reason)
        )
        await self._audit(movement)
        return movement

    # --- reservations -----------------------------------------------------------------------------------------

    def _reserve_sync(
        self, tenant: str, amount: int, key: str | None, ttl: float, reason: str
    ) -> tuple[Reservation, Movement | None]:
        self._expire_sync(tenant)
        table = schema.reservations
        try:
            with self.engine.begin() as connection:
                if key is not None:
                    existing = connection.execute(
                        sa.select(table).where(table.c.tenant == tenant, table.c.idempotency_key == key)
                    ).first()
                    if existing is not None:
                        return self._replay_reservation(existing, amount), None
                now = _now()
                balance = connection.execute(
                    sa.update(schema.accounts)
                    .where(schema.accounts.c.tenant == tenant, schema.accounts.c.balance >= amount)
                    .values(
                        balance=schema.accounts.c.balance - amount,
                        reserved=schema.accounts.c.reserved + amount,
                        updated=now,
                    )
                    .returning(schema.accounts.c.balance)
                ).scalar()
                if balance is None:
                    raise InsufficientCredits(tenant, amount, self._available(connection, tenant))
                reservation_id = uuid.uuid4().hex
                row = connection.execute(
                    table.insert()
                    .values(
                        id=reservation_id, tenant=tenant, amount=amount, status="held", committed_amount=None,
                        idempotency_key=key, reason=reason, expires_at=now + timedelta(seconds=ttl), created=now,
                    )
                    .returning(*table.c)
                ).one()
                movement = self._insert_movement(
                    connection, tenant=tenant, kind="reserve", amount=-amount, balance_after=int(balance),
                    idempotency_key=None, reservation_id=reservation_id, reason=reason, created=now,
                )
                return _reservation(row), movement
        except sa.exc.IntegrityError as exc:
            if key is None or not _is_unique_violation(exc):
                raise
        with self.engine.connect() as connection:
            existing = connection.execute(
                sa.select(table).where(table.c.tenant == tenant, table.c.idempotency_key == key)
            ).one()
        return self._replay_reservation(existing, amount), None

    @staticmethod
    def _replay_reservation(existing: Any, amount: int) -> Reservation:
        if int(existing.amount) != amount:
            raise IdempotencyConflict(
                f"idempotency key {existing.idempotency_key!r} was already used to reserve "
                f"{int(existing.amount)} credits"
            )
        return _reservation(existing, replayed=True)

    async def reserve(
        self,
        tenant: str,
        amount: int,
        idempotency_key: str | None = None,
        *,
        ttl: float | None = None,
        reason: str = "reservation",
    ) -> Reservation:
        """Hold `amount` credits (taken out of the available balance now) until commit, cancel or expiry."""
        ttl = self.reservation_ttl if ttl is None else ttl
        if not 0 < ttl <= 7 * 86400:
            raise InputError("reservation ttl must be between 0 and 7 days (seconds)")
        reservation, movement = await self._run(
            self._reserve_sync, _check_tenant(tenant), _check_amount(amount), _check_key(idempotency_key), ttl,
            _reason(reason),
        )
        if movement is not None:
            await self._audit(movement)
        return reservation

    def _settle_sync(self, reservation_id: str, action: str, amount: int | None, reason: str) -> tuple[Movement, bool]:
        """Commit or cancel a reservation. Returns (movement, expired) — expired: it lapsed and was released now."""
        table = schema.reservations
        with self.engine.begin() as connection:
            query = sa.select(table).where(table.c.id == reservation_id)
            if self._for_update:
                query = query.with_for_update()
            row = connection.execute(query).first()
            if row is None:
                raise ReservationError(f"unknown reservation {reservation_id!r}")
            done = {"commit": "committed", "cancel": "cancelled"}[action]
            if row.status != "held":
                previous = connection.execute(
                    sa.select(schema.movements)
                    .where(schema.movements.c.reservation_id == reservation_id)
                    .order_by(schema.movements.c.id.desc())
                    .limit(1)
                ).one()
                if row.status == done and (action == "cancel" or amount is None or amount == row.committed_amount):
                    return _movement(previous, replayed=True), False
                if action == "cancel" and row.status == "expired":
                    return _movement(previous, replayed=True), False
                raise ReservationError(f"reservation {reservation_id} is already {row.status}")
            now = _now()
            if as_utc(row.expires_at) <= now:
                return self._release(connection, row, "expire", now, "reservation expired"), True
            if action == "cancel":
                return self._release(connection, row, "cancel", now, reason), False
            held = int(row.amount)
            actual = held if amount is None else amount
            delta = held - actual  # > 0: refund the unused part; < 0: the request cost more than it held
            accounts = schema.accounts
            update = sa.update(accounts).where(accounts.c.tenant == row.tenant)
            if delta < 0:
                update = update.where(accounts.c.balance >= -delta)
            balance = connection.execute(
                update.values(balance=accounts.c.balance + delta, reserved=accounts.c.reserved - held, updated=now)
                .returning(accounts.c.balance)
            ).scalar()
            if balance is None:
                raise InsufficientCredits(row.tenant, -delta, self._available(connection, row.tenant))
            connection.execute(
                sa.update(table).where(table.c.id == reservation_id).values(status="committed", committed_amount=actual)
            )
            movement = self._insert_movement(
                connection, tenant=row.tenant, kind="commit", amount=delta, balance_after=int(balance),
                idempotency_key=None, reservation_id=reservation_id, reason=reason, created=now,
            )
            return movement, False

    def _release(self, connection: Connection, row: Any, kind: str, now: datetime, reason: str) -> Movement:
        """Give a held reservation back (cancel or expiry). The guarded status update makes it happen once."""
        table, accounts = schema.reservations, schema.accounts
        status = {"cancel": "cancelled", "expire": "expired"}[kind]
        released = connection.execute(
            sa.update(table).where(table.c.id == row.id, table.c.status == "held").values(status=status)
        ).rowcount
        if released != 1:
            raise ReservationError(f"reservation {row.id} was settled concurrently")
        held = int(row.amount)
        balance = connection.execute(
            sa.update(accounts)
            .where(accounts.c.tenant == row.tenant)
            .values(balance=accounts.c.balance + held, reserved=accounts.c.reserved - held, updated=now)
            .returning(accounts.c.balance)
        ).scalar_one()
        return self._insert_movement(
            connection, tenant=row.tenant, kind=kind, amount=held, balance_after=int(balance),
            idempotency_key=None, reservation_id=row.id, reason=reason, created=now,
        )

    async def commit(
        self, reservation: Reservation | str, amount: int | None = None, *, reason: str = "usage"
    ) -> Movement:
        """Settle a reservation at `amount` (default: the amount held): the unused part is refunded, an excess is
        debited if the balance covers it (else InsufficientCredits and the reservation stays held). Committing twice
        returns the first commit's movement. An expired reservation is released and ReservationError raised."""
        reservation_id = reservation.id if isinstance(reservation, Reservation) else reservation
        if amount is not None:
            _check_amount(amount, allow_zero=True)
        movement, expired = await self._run(self._settle_sync, reservation_id, "commit", amount, _reason(reason))
        await self._audit(movement)
        if expired:
            raise ReservationError(f"reservation {reservation_id} expired before it was committed")
        return movement

    async def cancel(self, reservation: Reservation | str, *, reason: str = "cancelled") -> Movement:
        """Release a held reservation (idempotent; cancelling a committed one raises ReservationError)."""
        reservation_id = reservation.id if isinstance(reservation, Reservation) else reservation
        movement, _ = await self._run(self._settle_sync, reservation_id, "cancel", None, _reason(reason))
        await self._audit(movement)
        return movement

    def _expire_sync(self, tenant: str | None = None, now: datetime | None = None) -> list[Movement]:
        table = schema.reservations
        moment = now or _now()
        query = sa.select(table.c.id).where(table.c.status == "held", table.c.expires_at <= moment)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        with self.engine.connect() as connection:
            candidates = list(connection.execute(query.limit(MAX_PAGE)).scalars())
        released: list[Movement] = []
        for reservation_id in candidates:  # one short transaction each: never holds many locks at once
            with self.engine.begin() as connection:
                row = connection.execute(
                    sa.select(table).where(table.c.id == reservation_id, table.c.status == "held")
                ).first()
                if row is None:
                    continue  # settled meanwhile
                released.append(self._release(connection, row, "expire", moment, "reservation expired"))
        return released

    async def expire_reservations(self, *, tenant: str | None = None, now: datetime | None = None) -> list[Movement]:
        """Release every held reservation past its expiry (all tenants, or one). Returns the expire movements."""
        movements = await self._run(self._expire_sync, tenant, now)
        for movement in movements:
            await self._audit(movement)
        return movements

    async def reservation(self, reservation_id: str) -> Reservation:
        def read() -> Reservation:
            with self.engine.connect() as connection:
                row = connection.execute(
                    sa.select(schema.reservations).where(schema.reservations.c.id == reservation_id)
                ).first()
            if row is None:
                raise ReservationError(f"unknown reservation {reservation_id!r}")
            return _reservation(row)

        return await self._run(read)

    # --- reads ------------------------------------------------------------------------------------------------

    def _balance_sync(self, tenant: str) -> Balance:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(schema.accounts.c.balance, schema.accounts.c.reserved).where(
                    schema.accounts.c.tenant == tenant
                )
            ).first()
        if row is None:
            return Balance(tenant=tenant, available=0, reserved=0)
        return Balance(tenant=tenant, available=int(row.balance), reserved=int(row.reserved))

    async def balance(self, tenant: str) -> Balance:
        """The tenant's available and reserved credits (0/0 for an unknown tenant)."""
        return await self._run(self._balance_sync, _check_tenant(tenant))

    def _history_sync(self, tenant: str, limit: int, cursor: str | None) -> HistoryPage:
        query = sa.select(schema.movements).where(schema.movements.c.tenant == tenant)
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 19:
                raise InputError(f"invalid history cursor {cursor[:40]!r}")
            query = query.where(schema.movements.c.id < int(cursor))
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(schema.movements.c.id.desc()).limit(limit + 1)).all()
        items = [_movement(row) for row in rows[:limit]]
        next_cursor = str(items[-1].id) if len(rows) > limit else None
        return HistoryPage(items=items, next_cursor=next_cursor)

    async def history(self, tenant: str, *, limit: int = 50, cursor: str | None = None) -> HistoryPage:
        """Movements newest first, `limit` per page; pass `next_cursor` back for the next page. Keyset-paged on the
        movement id, so pages stay stable while new movements arrive."""
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"history limit must be between 1 and {MAX_PAGE}")
        return await self._run(self._history_sync, _check_tenant(tenant), limit, cursor)

    async def replay_audit(self, *, after_id: int = 0) -> int:
        """Re-send movements after `after_id` to the audit log (after an audit outage); duplicates are skipped by the
        log since event ids derive from movement ids. Returns how many movements were sent."""
        if self.audit is None:
            return 0

        def read() -> list[Movement]:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    sa.select(schema.movements).where(schema.movements.c.id > after_id).order_by(schema.movements.c.id)
                ).all()
            return [_movement(row) for row in rows]

        movements = await self._run(read)
        for movement in movements:
            await self._audit(movement)
        return len(movements)

    # --- shutdown ---------------------------------------------------------------------------------------------

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.engine.dispose()

    async def __aenter__(self) -> CreditsLedger:
        return self

    async def __aexit__(self, *_: object) -> None:
        self.close()
