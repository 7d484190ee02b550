"""Hot reload: poll a bundle source, verify and validate new bundles, swap them in without dropping requests.

Sources:
- a local bundle directory or archive (`DirectorySource`), changes detected by content digest;
- an HTTP bundle server speaking OPA's bundle service protocol (`HttpSource`): `GET <url>` with
  `If-None-Match: <last ETag>`, `304 Not Modified` when unchanged, the bundle archive and a new `ETag`
  otherwise;
- the policy database (`DatabaseSource`): follows `policy activate` / `policy rollback` run elsewhere.

Polling waits a random delay between `min_delay` and `max_delay` (jitter, as OPA's `polling.min_delay_seconds`
/`max_delay_seconds`) so replicas do not hit the server in lockstep. A new bundle goes through
`PolicyManager.activate`: signature, anti-rollback (a database source may roll back), compile and its own
tests in a child process; a bad bundle is logged and rejected while the old one keeps serving.

Run a standalone replica (used by the convergence test and for trying a bundle server):
`python -m shieldstorm.policy.reload --source URL --pubkey K.pub --status-port N`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from shieldstorm.errors import InputError, ShieldStormError
from shieldstorm.policy.activation import PolicyManager
from shieldstorm.policy.bundle import MAX_TOTAL_BYTES, PolicyBundle, load_bundle, read_bundle_bytes
from shieldstorm.policy.engine import PolicyEngine
from shieldstorm.policy.holder import PolicyHolder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    bundle: PolicyBundle
    rollback: bool = False
    cosign: tuple[bytes, bytes] | None = None  # (archive bytes, cosign signature) when one was published
    trusted_signer: str | None = None


class BundleSource(Protocol):
    description: str

    def fetch(self) -> Fetched | None:
        """A bundle when the source changed since the last fetch, else None."""


class DirectorySource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = str(self.path)
        self._seen: tuple[str, bytes | None] | None = None

    def fetch(self) -> Fetched | None:
        bundle = load_bundle(self.path)
        sig_path = self.path.with_name(self.path.name + ".sig")
        cosign = None
        if self.path.is_file() and sig_path.is_file():
            cosign = (self.path.read_bytes(), sig_path.read_bytes())
        marker = (bundle.digest, bundle.signatures if cosign is None else cosign[1])
        if marker == self._seen:
            return None
        self._seen = marker
        return Fetched(bundle, cosign=cosign)


class HttpSource:
    """OPA bundle service client: conditional GET with the last ETag."""

    def __init__(self, url: str, *, timeout: float = 10.0, headers: dict[str, str] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"bundle service URL must be http(s): {url}")
        self.url = url
        self.description = url
        self.timeout = timeout
        self.headers = headers or {}
        self.etag: str | None = None
        self.not_modified = 0

    def fetch(self) -> Fetched | None:
        request = urllib.request.Request(self.url, headers={"Accept": "application/gzip", **self.headers})  # noqa: S310
        if self.etag:
            request.add_header("If-None-Match", self.etag)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) checked above)
                body = response.read(MAX_TOTAL_BYTES + 1)
                etag = response.headers.get("ETag")
        except urllib.error.HTTPError as exc:
            if exc.code == 304:
                self.not_modified += 1
                return None
            raise InputError(f"bundle server answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise InputError(f"bundle server unreachable: {exc}") from exc
        if len(body) > MAX_TOTAL_BYTES:
            raise InputError("bundle from server is too large")
        bundle = read_bundle_bytes(body, self.url)
        # Only remember the ETag once the body was readable, so a torn download is fetched again.
        self.etag = etag
        return Fetched(bundle)


class DatabaseSource:
    """Follow the newest activation in the policy database (rollbacks included)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.description = "policy database"
        self._seen: int | None = None

    def fetch(self) -> Fetched | None:
        current = self.store.current()
        if current is None or current.id == self._seen:
            return None
        self._seen = current.id
        bundle = read_bundle_bytes(self.store.bundle_bytes(current.id), f"history #{current.id}")
        # The database already enforced anti-rollback and verified the signature when recording.
        return Fetched(bundle, rollback=True, trusted_signer=current.signer or "history")


class PolicyWatcher:
    def __init__(
        self,
        source: BundleSource,
        manager: PolicyManager,
        *,
        min_delay: float = 10.0,
        max_delay: float = 20.0,
    ) -> None:
        if min_delay <= 0 or max_delay < min_delay:
            raise InputError("polling delays must satisfy 0 < min_delay <= max_delay")
        self.source = source
        self.manager = manager
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.polls = 0
        self.activations = 0
        self.rejections = 0
        self.last_error: str | None = None
        self._last_rejected: tuple[str, bytes | None, bytes | None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> str:
        """One poll: "unchanged", "activated", "rejected" or "error" (the active policy is kept unless activated)."""
        self.polls += 1
        try:
            fetched = self.source.fetch()
        except ShieldStormError as exc:
            self.last_error = str(exc)
            log.warning("policy source %s: %s", self.source.description, exc)
            return "error"
        if fetched is None:
            return "unchanged"
        # Content plus whatever signs it: a bundle refused as unsigned may come back with a signature.
        rejection_key = (
            fetched.bundle.digest,
            fetched.bundle.signatures,
            fetched.cosign[1] if fetched.cosign else None,
        )
        if rejection_key == self._last_rejected:
            return "rejected"
        try:
            outcome = self.manager.activate(
                fetched.bundle,
                actor="reload",
                source=self.source.description,
                rollback=fetched.rollback,
                cosign=fetched.cosign,
                trusted_signer=fetched.trusted_signer,
            )
        except ShieldStormError as exc:
            self.rejections += 1
            self.last_error = str(exc)
            self._last_rejected = rejection_key
            return "rejected"
        if not outcome.changed:
            return "unchanged"
        self.activations += 1
        self.last_error = None
        return "activated"

    def next_delay(self) -> float:
        return random.uniform(self.min_delay, self.max_delay)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the watcher thread must survive anything a bundle does
                log.exception("policy reload poll failed")
            self._stop.wait(self.next_delay())

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="policy-reload", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> dict[str, Any]:
        holder = self.manager.holder
        engine = holder.engine if holder is not None else None
        return {
            "revision": engine.revision if engine else None,
            "digest": engine.digest if engine else None,
            "signer": engine.signer if engine else None,
            "candidate": holder.candidate.revision if holder is not None and holder.candidate is not None else None,
            "divergences": len(holder.divergences) if holder is not None else 0,
            "source": self.source.description,
            "polls": self.polls,
            "activations": self.activations,
            "rejections": self.rejections,
            "last_error": self.last_error,
        }


def source_for(spec: str) -> BundleSource:
    if spec.startswith(("http://", "https://")):
        return HttpSource(spec)
    return DirectorySource(spec)


def _status_server(watcher: PolicyWatcher, holder: PolicyHolder, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/status":
                self._send(200, watcher.status())
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/v1/decision":
                self._send(404, {"error": "not found"})
                return
            length = min(int(self.headers.get("Content-Length", "0") or 0), 1 << 20)
            try:
                document = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._send(400, {"error": "body is not JSON"})
                return
            if not isinstance(document, dict):
                self._send(400, {"error": "body must be a JSON object"})
                return
            self._send(200, holder.evaluate(document).model_dump())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="policy-status", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shieldstorm.policy.reload", description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="bundle directory/archive or bundle server URL")
    parser.add_argument("--pubkey", action="append", default=[], help="trusted public key (repeatable)")
    parser.add_argument("--allow-unsigned", action="store_true")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--status-port", type=int, default=0)
    parser.add_argument("--min-delay", type=float, default=10.0)
    parser.add_argument("--max-delay", type=float, default=20.0)
    parser.add_argument("--shadow", help="candidate bundle evaluated beside the active one (never enforced)")
    parser.add_argument("--audit-url", help="audit activations/rejections to this database (AuditLog)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    holder = PolicyHolder(PolicyEngine.default())
    audit = None
    if args.audit_url:
        from shieldstorm.audit.log import AuditLog

        audit = AuditLog.open(args.audit_url)
    manager = PolicyManager(
        holder,
        None,
        public_keys=[Path(p).read_bytes() for p in args.pubkey],
        require_signature=not args.allow_unsigned,
        run_tests=not args.skip_tests,
        audit=audit,
    )
    watcher = PolicyWatcher(source_for(args.source), manager, min_delay=args.min_delay, max_delay=args.max_delay)
    if args.shadow:
        manager.stage_candidate(load_bundle(args.shadow), actor="reload", source=args.shadow)
    server = _status_server(watcher, holder, args.status_port) if args.status_port else None
    watcher.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        if server is not None:
            server.shutdown()
        if audit is not None:
            audit.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
