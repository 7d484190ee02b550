"""Real PostgreSQL and Redis servers for tests.

Order of preference: the SHIELDSTORM_TEST_POSTGRES_URL / SHIELDSTORM_TEST_REDIS_URL environment variables,
then throwaway servers started from the binaries on PATH (or Debian's /usr/lib/postgresql/*/bin) on free
loopback ports, then a skip with the reason. With SHIELDSTORM_REQUIRE_SERVICES=1 (CI) a missing
service fails the test instead of skipping it.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("SHIELDSTORM_REQUIRE_SERVICES") == "1"


def unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable (SHIELDSTORM_REQUIRE_SERVICES=1): {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def wait_for_postgres(url: str, timeout: float = 60.0) -> bool:
    """The port opens before recovery/start-up ends ("the database system is starting up"): wait for a session."""
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=3) as connection:
                connection.execute("SELECT 1")
            return True
        except psycopg.Error:
            time.sleep(0.1)
    return False


def _pg_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass
class ThrowawayPostgres:
    """A private PostgreSQL cluster in a temp dir. As root it runs as the `postgres` user (initdb refuses root)."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ss-pg-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    fsync: bool = False  # tests trade crash safety for speed; benchmarks turn it on to measure honestly

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        runuser = shutil.which("runuser")
        if runuser is None:
            raise RuntimeError("running as root without runuser; cannot start postgres")
        return [runuser, "-u", "postgres", "--", *argv]

    def start(self) -> str:
        initdb, postgres = _pg_binary("initdb"), _pg_binary("postgres")
        if not initdb or not postgres:
            raise RuntimeError("postgres binaries not found on PATH or in /usr/lib/postgresql")
        data = self.root / "data"
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run(
            self._as_owner([initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"]),
            check=True,
            capture_output=True,
        )
        return self._launch(postgres)

    def _launch(self, postgres: str) -> str:
        self.process = subprocess.Popen(
            self._as_owner(
                [postgres, "-D", str(self.root / "data"), "-p", str(self.port), "-k", str(self.root),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"fsync={'on' if self.fsync else 'off'}",
                 "-c", "max_connections=200"]
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_port(self.port):
            self.stop()
            raise RuntimeError("throwaway postgres did not start")
        url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        if not wait_for_postgres(url):
            self.stop()
            raise RuntimeError("throwaway postgres listens but does not accept connections")
        return url

    def halt(self) -> None:
        """Stop the server with a fast shutdown (open connections are cut), keeping its data for `resume()`."""
        pg_ctl = _pg_binary("pg_ctl")
        if pg_ctl is None:
            raise RuntimeError("pg_ctl not found")
        subprocess.run(
            self._as_owner([pg_ctl, "-D", str(self.root / "data"), "stop", "-m", "fast", "-w", "-t", "30"]),
            check=True,
            capture_output=True,
        )
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)

    def resume(self) -> str:
        """Start the halted server again on the same port and data directory."""
        postgres = _pg_binary("postgres")
        if postgres is None:
            raise RuntimeError("postgres binary not found")
        return self._launch(postgres)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            if self.process.poll() is None:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class ThrowawayRedis:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found on PATH")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_for_port(self.port):
            self.stop()
            raise RuntimeError("throwaway redis did not start")
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of an administrative database on a real PostgreSQL server."""
    configured = os.environ.get("SHIELDSTORM_TEST_POSTGRES_URL")
    if configured:
        yield configured
        return
    server = ThrowawayPostgres()
    try:
        url = server.start()
    except Exception as exc:  # the reason goes into the skip/fail message
        server.stop()
        unavailable(f"no PostgreSQL: {exc}")
        return
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    import psycopg

    name = f"ss_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(postgres_server_url, autocommit=True)
    except Exception as exc:
        unavailable(f"cannot connect to PostgreSQL: {exc}")
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    configured = os.environ.get("SHIELDSTORM_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    server = ThrowawayRedis()
    try:
        url = server.start()
    except Exception as exc:
        server.stop()
        unavailable(f"no Redis: {exc}")
        return
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A real Redis URL. Tests share the server, so they must namespace keys with `redis_prefix`."""
    return redis_server_url


@pytest.fixture
def redis_prefix() -> str:
    return f"sstest:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a test once on embedded SQLite and once on real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shieldstorm.db'}"
    return str(request.getfixturevalue("postgres_url"))
