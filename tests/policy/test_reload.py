"""Hot reload from a real loopback bundle server (OPA bundle protocol) and replica convergence across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from shieldstorm.policy import PolicyEngine, PolicyHolder
from shieldstorm.policy.activation import PolicyManager
from shieldstorm.policy.bundle import PolicyBundle
from shieldstorm.policy.reload import DirectorySource, HttpSource, PolicyWatcher
from shieldstorm.policy.signing import generate_key
from tests.policy.helpers import make_bundle
from tests.services import free_port, wait_for_port


class BundleServer:
    """A minimal OPA bundle server: serves one archive with an ETag and answers If-None-Match with 304."""

    def __init__(self) -> None:
        self.state = (b"", "")  # (archive, etag), replaced in one assignment so a request never mixes them
        self.requests: list[tuple[int, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                # Requests are logged before answering, so the client never sees an answer not yet logged.
                archive, etag = server.state
                if self.path != "/bundles/shield.tar.gz" or not archive:
                    server.requests.append((404, None))
                    self.send_response(404)
                    self.end_headers()
                    return
                sent = self.headers.get("If-None-Match")
                if sent == etag:
                    server.requests.append((304, sent))
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                server.requests.append((200, sent))
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(archive)))
                self.end_headers()
                self.wfile.write(archive)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/bundles/shield.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, bundle: PolicyBundle) -> None:
        self.state = (bundle.to_tar_gz(), '"' + bundle.digest + '"')

    @property
    def etag(self) -> str:
        return self.state[1]


@pytest.fixture
def server() -> Iterator[BundleServer]:
    instance = BundleServer()
    yield instance
    instance.httpd.shutdown()


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return generate_key("Ed25519")


def test_http_source_swaps_good_bundles_and_rejects_bad_ones(server: BundleServer, keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    holder = PolicyHolder(PolicyEngine.default())
    watcher = PolicyWatcher(
        HttpSource(server.url), PolicyManager(holder, public_keys=[public]), min_delay=0.01, max_delay=0.02
    )
    assert watcher.poll_once() == "error"  # nothing published yet: 404, the built-in policy keeps serving
    server.publish(make_bundle("10", key=private))
    assert watcher.poll_once() == "activated"
    assert holder.evaluate({"risk": 0}).reasons == ["rev-10"]
    assert watcher.poll_once() == "unchanged"
    assert server.requests[-1] == (304, server.etag)

    for bad in (
        make_bundle("11"),  # unsigned
        make_bundle("12", key=generate_key("Ed25519")[0]),  # signed by someone else
        make_bundle("13", key=private, policy="package shield\ndecision := := 1\n"),  # does not compile
        make_bundle("14", key=private, test="package shield\nimport rego.v1\ntest_no if { false }\n"),  # own test fails
        make_bundle("9", key=private),  # revision goes backwards
    ):
        server.publish(bad)
        assert watcher.poll_once() == "rejected", bad.revision
        assert holder.evaluate({"risk": 0}).reasons == ["rev-10"]
    assert watcher.rejections == 5
    server.publish(make_bundle("15", key=private))
    assert watcher.poll_once() == "activated"
    assert holder.engine.revision == "15"


def test_watcher_thread_swaps_without_dropping_requests(tmp_path: Path, keys: tuple[bytes, bytes]) -> None:
    private, public = keys
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(make_bundle("1", key=private).to_tar_gz())
    holder = PolicyHolder(PolicyEngine.default())
    watcher = PolicyWatcher(
        DirectorySource(archive), PolicyManager(holder, public_keys=[public]), min_delay=0.05, max_delay=0.1
    )
    watcher.start()
    seen: set[str] = set()
    errors: list[str] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            decision = holder.evaluate({"risk": 0})
            if decision.fail_mode_applied:
                errors.append(decision.error or "?")
            seen.add(decision.reasons[0] if decision.reasons else decision.decision)

    worker = threading.Thread(target=traffic)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while "rev-1" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
        archive.write_bytes(make_bundle("2", key=private).to_tar_gz())
        while "rev-2" not in seen and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join()
        watcher.stop()
    assert holder.engine.revision == "2"
    assert {"rev-1", "rev-2"} <= seen
    assert errors == []


def _status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as response:
        return dict(json.loads(response.read()))


def test_replicas_in_separate_processes_converge(
    server: BundleServer, keys: tuple[bytes, bytes], tmp_path: Path
) -> None:
    private, public = keys
    pubkey = tmp_path / "k.pub"
    pubkey.write_bytes(public)
    server.publish(make_bundle("20", key=private))
    ports = [free_port() for _ in range(3)]
    audit_url = f"sqlite:///{tmp_path / 'audit.db'}"
    replicas = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shieldstorm.policy.reload",
                "--source",
                server.url,
                "--pubkey",
                str(pubkey),
                "--status-port",
                str(port),
                "--min-delay",
                "0.2",
                "--max-delay",
                "0.6",
                # One replica audits its activations (an audit log is one writer per database).
                *(["--audit-url", audit_url] if index == 0 else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "SHIELDSTORM_DATA_DIR": str(tmp_path / "replica-state")},
        )
        for index, port in enumerate(ports)
    ]
    try:
        for port in ports:
            assert wait_for_port(port, timeout=30)

        def converged(revision: str) -> bool:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if all(_status(p)["revision"] == revision for p in ports):
                    return True
                time.sleep(0.2)
            return False

        assert converged("20")
        server.publish(make_bundle("21", key=private, limit=0.05))
        assert converged("21")
        digests = {_status(p)["digest"] for p in ports}
        assert len(digests) == 1
        # And they enforce it: the same input gets the new decision from every replica.
        for port in ports:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/decision", data=json.dumps({"risk": 0.1}).encode(), method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert json.loads(response.read())["reasons"] == ["rev-21"]
        # Replicas keep polling with If-None-Match: the unchanged revision is answered 304. (Waited for, not
        # read once: on a busy machine every replica may have converged on its first poll of each revision.)
        deadline = time.monotonic() + 30
        while not any(status == 304 for status, _ in server.requests) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any(status == 304 for status, _ in server.requests)
    finally:
        for replica in replicas:
            replica.terminate()
        for replica in replicas:
            replica.wait(timeout=10)
    from shieldstorm.audit.log import AuditLog

    log = AuditLog.open(audit_url, data_dir=tmp_path / "replica-state", checkpoint_interval=None)
    try:
        activated = [e.event.data["revision"] for e in log.entries() if e.event.event_type == "policy.activated"]
    finally:
        log.close()
    assert activated == ["20", "21"]


def test_database_source_follows_activation_and_rollback(tmp_path: Path, keys: tuple[bytes, bytes]) -> None:
    from shieldstorm.policy.reload import DatabaseSource
    from shieldstorm.policy.store import PolicyStore

    private, public = keys
    store = PolicyStore.open(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        operator = PolicyManager(None, store, public_keys=[public], run_tests=False)
        operator.activate(make_bundle("1", key=private))
        operator.activate(make_bundle("2", key=private))
        replica = PolicyHolder(PolicyEngine.default())
        watcher = PolicyWatcher(DatabaseSource(store), PolicyManager(replica, public_keys=[public], run_tests=False))
        assert watcher.poll_once() == "activated"
        assert replica.engine.revision == "2"
        assert watcher.poll_once() == "unchanged"
        operator.rollback()
        assert watcher.poll_once() == "activated"  # the replica follows an explicit rollback
        assert replica.engine.revision == "1"
    finally:
        store.close()


def test_cosign_signed_archive_is_accepted_and_can_be_rolled_back_to(tmp_path: Path) -> None:
    from shieldstorm.policy.signing import cosign_sign_blob
    from shieldstorm.policy.store import PolicyStore

    private, public = generate_key("ES256")
    archive = tmp_path / "shield.tar.gz"
    store = PolicyStore.open(f"sqlite:///{tmp_path / 'p.db'}")
    holder = PolicyHolder(PolicyEngine.default())
    manager = PolicyManager(holder, store, public_keys=[public], run_tests=False)
    watcher = PolicyWatcher(DirectorySource(archive), manager, min_delay=0.01, max_delay=0.02)
    try:
        archive.write_bytes(make_bundle("1").to_tar_gz())  # no JWS and no cosign signature yet: refused
        assert watcher.poll_once() == "rejected"
        Path(f"{archive}.sig").write_bytes(cosign_sign_blob(archive.read_bytes(), private))
        assert watcher.poll_once() == "activated"
        assert holder.engine.signer is not None and holder.engine.signer.startswith("cosign-ECDSA-P256")
        archive.write_bytes(make_bundle("2").to_tar_gz())  # the old .sig does not cover the new bytes
        assert watcher.poll_once() == "rejected"
        Path(f"{archive}.sig").write_bytes(cosign_sign_blob(archive.read_bytes(), private))
        assert watcher.poll_once() == "activated"
        manager.rollback("1")
        assert holder.engine.revision == "1"
        assert [(h.revision, h.action) for h in store.history()] == [
            ("1", "rollback"),
            ("2", "activate"),
            ("1", "activate"),
        ]
    finally:
        store.close()


def test_runtime_follows_a_bundle_server_and_reports_status(server: BundleServer, keys: tuple[bytes, bytes]) -> None:
    from shieldstorm.policy.runtime import PolicyRuntime

    private, public = keys
    server.publish(make_bundle("30", key=private))
    runtime = PolicyRuntime.create(source=server.url, public_keys=[public], min_delay=0.05, max_delay=0.1)
    runtime.start()
    try:
        assert runtime.holder.engine.revision == "30"  # the first poll happens before start() returns
        server.publish(make_bundle("31", key=private))
        deadline = time.monotonic() + 60
        # The activation counter moves just after the swap: wait for both.
        while runtime.status()["reload"]["activations"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        status = runtime.status()
        assert status["revision"] == "31" and status["builtin"] is False
        assert status["reload"]["activations"] == 2
    finally:
        runtime.stop()
