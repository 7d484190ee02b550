"""The Shield's ASGI app (Starlette): health, readiness and metrics routes, and the guarded catch-all.

Modes:
- `proxy`:  reverse proxy in front of an agent or HTTP API (`upstream.url`);
- `openai`: OpenAI-compatible proxy to an LLM provider: request bodies read as chat completions, client
            credentials stripped and the provider key added from env (`upstream.headers_env`);
- `authz`:  external authorizer: Envoy `ext_authz` (HTTP service; original method/path/headers, body when
            `with_request_body` is on) and nginx `auth_request` (original URI/method in `X-Original-URI` /
            `X-Original-Method`). 200 admits; a refusal answers with its status and JSON body.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Receive, Scope, Send

from shieldstorm.shield.audit_sink import AuditSink
from shieldstorm.shield.config import ShieldConfig
from shieldstorm.shield.credits_gate import CreditsGate
from shieldstorm.shield.extract import parse_json, set_at, walk_strings
from shieldstorm.shield.metrics import ShieldMetrics
from shieldstorm.shield.pipeline import Decision, Pipeline, RequestInfo
from shieldstorm.shield.response import (
    ResponseBlocked,
    ResponseInspector,
    SSEChatFilter,
    TextStreamFilter,
    openai_response_texts,
)
from shieldstorm.shield.upstream import HOP_BY_HOP, CircuitOpen, Upstream, upstream_headers

logger = logging.getLogger(__name__)
RESERVED_PATHS = ("/healthz", "/readyz", "/metrics")
# The collector's young-generation threshold once the start-up heap is frozen (see ShieldApp.startup).
GC_YOUNG_THRESHOLD = 10_000


class ClientProblem(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type = status, error_type


def json_error(status: int, error_type: str, message: str, correlation_id: str | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"error": {"type": error_type, "message": message, "correlation_id": correlation_id}}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    return status, raw, body


async def send_simple(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TrustedProxies:
    def __init__(self, cidrs: list[str]) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]

    def trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def client_ip(self, peer: str, forwarded_for: str | None) -> str:
        """X-Forwarded-For counts only if the peer is trusted; walk it right to left past trusted hops."""
        if not forwarded_for or not self.networks or not self.trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # garbage in the header: fall back to the connected peer
        return hops[0] if hops else peer


class ShieldApp:
    """Owns the pipeline, upstream, audit sink and metrics; `asgi` is the guarded catch-all."""

    def __init__(self, config: ShieldConfig) -> None:
        self.config = config
        self.metrics = ShieldMetrics()
        self.upstream = Upstream(config.upstream) if config.mode != "authz" else None
        self._jwks_session: aiohttp.ClientSession | None = None
        self.pipeline = Pipeline(config, metrics=self.metrics, session_factory=self._session_for_jwks)
        self.inspector = ResponseInspector(config.response, self.pipeline.detection, self.pipeline.policy)
        self.audit = AuditSink(config.audit, self.metrics)
        self.proxies = TrustedProxies(config.server.trusted_proxies)
        self.upstream_label = "authz" if self.upstream is None else self.upstream.base
        self._circuit_gauge = self.metrics.circuit_open.labels(self.upstream_label)
        self.started = time.time()
        self.credits: CreditsGate | None = CreditsGate(config.credits) if config.credits.enabled else None
        self._lifespans = 0

    def _session_for_jwks(self) -> aiohttp.ClientSession:
        if self._jwks_session is None or self._jwks_session.closed:
            self._jwks_session = aiohttp.ClientSession()
        return self._jwks_session

    async def startup(self) -> None:
        # Idempotent: the HTTP/3 listener runs the same app's lifespan a second time.
        self._lifespans += 1
        if self._lifespans == 1:
            await asyncio.to_thread(self.pipeline.policy.start)
            await self.audit.open()
            if self.credits is not None:
                await self.credits.open()
            # Everything built so far (patterns, compiled policy, config, imported modules) lives as long as the
            # process: move it out of the collector's generations, so full collections triggered by per-request
            # garbage scan only young objects (a full collection of the startup heap took 75 ms here).
            gc.collect()
            gc.freeze()
            # Per-request garbage then triggers a young collection every 700 net allocations (the default), and
            # every 100th of those a full one over the caches: the one-connection p99 tail. 10,000 keeps the
            # same work in fewer, rarer pauses (bench/shield.py-style c=1 runs, 5 interleaved rounds, medians:
            # p99 2.58 -> 1.67 ms, p50 unchanged; the young generation holds at most ~1-2 MB more).
            gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    async def shutdown(self) -> None:
        self._lifespans -= 1
        if self._lifespans > 0:
            return
        await asyncio.to_thread(self.pipeline.policy.stop)
        await self.audit.close()
        if self.credits is not None:
            await self.credits.close()
        if self.upstream is not None:
            await self.upstream.close()
        if self._jwks_session is not None:
            await self._jwks_session.close()
        await self.pipeline.limiter.close()

    # --- request intake ---------------------------------------------------------------------------------------

    def _check_headers(self, scope: Scope) -> None:
        headers = scope["headers"]
        limits = self.config.server
        if len(headers) > limits.max_headers:
            raise ClientProblem(431, "too_many_headers", f"more than {limits.max_headers} request headers")
        if sum(len(k) + len(v) for k, v in headers) > limits.max_header_bytes:
            raise ClientProblem(431, "headers_too_large", f"request headers exceed {limits.max_header_bytes} bytes")

    async def _read_body(self, receive: Receive, declared: str | None) -> bytes:
        limit = self.config.server.max_body_bytes
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise ClientProblem(413, "body_too_large", f"request body exceeds {limit} bytes")
            except ValueError as exc:
                raise ClientProblem(400, "bad_request", "invalid Content-Length") from exc
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.config.server.body_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise ClientProblem(499, "client_disconnected", "client went away")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise ClientProblem(413, "body_too_large", f"request body exceeds {limit} bytes")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError as exc:
            raise ClientProblem(408, "request_timeout", "request body not received in time") from exc
        return b"".join(chunks)

    # --- the guarded catch-all --------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        try:
            await self._handle(scope, receive, send)
        finally:
            self.metrics.request_seconds.labels(self.config.mode).observe(time.perf_counter() - started)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: dict[str, str] = {}
        try:
            self._check_headers(scope)
            for raw_name, raw_value in scope["headers"]:
                name = raw_name.decode("latin-1").lower()
                value = raw_value.decode("latin-1")
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            body = await self._read_body(receive, headers.get("content-length"))
        except ClientProblem as problem:
            self.metrics.client_errors.labels(problem.error_type).inc()
            if problem.status != 499:
                await send_simple(send, *json_error(problem.status, problem.error_type, str(problem)))
            return
        peer = scope["client"][0] if scope.get("client") else "unknown"
        client_ip = self.proxies.client_ip(peer, headers.get("x-forwarded-for"))
        method, path = scope["method"], scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        if self.config.mode == "authz":
            method = headers.get("x-original-method", method)
            path = headers.get("x-original-uri", path)
        info = RequestInfo(method=method, path=path, headers=headers, client_ip=client_ip, peer=peer, body=body,
                           correlation_id=headers.get("x-request-id", "")[:64] or _new_id())
        try:
            decision = await self.pipeline.decide(info)
        except Exception:  # fail closed: an internal error never lets the request through
            logger.exception("pipeline error (correlation id %s)", info.correlation_id)
            await send_simple(send, *json_error(503, "shield_error", "the gateway could not evaluate this request",
                                                info.correlation_id))
            return
        summary = self.pipeline.record(decision)
        await self.audit.record(summary, mode=self.config.mode, method=method, path=path, client_ip=client_ip)
        if not decision.forward:
            out_headers = decision.response_headers()
            if self._refuse_as_completion(decision):
                extracted = decision.extracted
                await send_refusal(send, decision, out_headers, stream=bool(extracted and extracted.stream),
                                   model=extracted.model if extracted else None)
                return
            await send_simple(send, *json_error_from(decision, out_headers))
            return
        if self.credits is not None and decision.identity is not None:
            extracted = decision.extracted
            chars = sum(len(s.text) for s in extracted.segments) if extracted else 0
            amount = self.credits.cost(path, method, extracted.model if extracted else None, chars)
            key = headers.get("idempotency-key", "")[:128] or f"shield:{info.correlation_id}"
            charge = await self.credits.charge(decision.identity.tenant, amount, key)
            if not charge.ok:
                body = json.dumps({**(charge.body or {}), "correlation_id": info.correlation_id}).encode()
                raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                raw_headers += [(k.lower().encode(), v.encode()) for k, v in charge.headers.items()]
                await send_simple(send, charge.status, raw_headers, body)
                return
            decision.headers.update(charge.headers)
        if self.config.mode == "authz":
            raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in decision.response_headers().items()]
            await send_simple(send, 200, [*raw, (b"content-length", b"0")], b"")
            return
        await self._forward(scope, send, info, decision)

    def _refuse_as_completion(self, decision: Decision) -> bool:
        return (self.config.mode == "openai" and self.config.openai_refusals
                and decision.error_type in ("blocked", "challenge", "response_blocked")
                and decision.extracted is not None and decision.extracted.is_openai)

    async def _forward(self, scope: Scope, send: Send, info: RequestInfo, decision: Decision) -> None:
        assert self.upstream is not None
        up_config = self.config.upstream
        strip = up_config.strip_client_authorization or self.config.mode == "openai"
        out = upstream_headers(scope["headers"], peer=info.peer, proto=scope.get("scheme", "http"),
                               strip_authorization=strip, extra=self.upstream.extra_headers,
                               correlation_id=info.correlation_id, content_length=len(decision.body))
        if self.config.response.inspect:
            out["accept-encoding"] = "identity"  # inspection needs the plain text
        with self.metrics.stage("upstream_connect"):
            try:
                upstream_response = await self.upstream.request(info.method, info.path, out, decision.body)
            except CircuitOpen:
                self.metrics.upstream_errors.labels(self.upstream_label, "circuit_open").inc()
                self.metrics.circuit_open.labels(self.upstream_label).set(1)
                await send_simple(send, *json_error(503, "upstream_unavailable", "upstream circuit is open",
                                                    info.correlation_id, {"Retry-After": "5"}))
                return
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                kind = "timeout" if isinstance(exc, TimeoutError) else "connect"
                self.metrics.upstream_errors.labels(self.upstream_label, kind).inc()
                status = 504 if kind == "timeout" else 502
                await send_simple(send, *json_error(status, f"upstream_{kind}", "upstream did not answer",
                                                    info.correlation_id))
                return
        self._circuit_gauge.set(1 if self.upstream.breaker.state == "open" else 0)
        if upstream_response.status >= 500:
            self.metrics.upstream_errors.labels(self.upstream_label, "http_5xx").inc()
        try:
            await self._relay(send, info, decision, upstream_response)
        finally:
            upstream_response.release()

    async def _relay(self, send: Send, info: RequestInfo, decision: Decision, response: Any) -> None:
        extra = decision.response_headers()
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()
                   if k.lower() not in HOP_BY_HOP]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        content_type = response.headers.get("content-type", "")
        encoded = response.headers.get("content-encoding", "identity").lower() not in ("identity", "")
        declared = response.content_length
        inspect = self.config.response.inspect and not encoded
        buffer_limit = self.config.response.max_buffer_bytes
        textual = "json" in content_type or content_type.startswith("text/")
        if inspect and "text/event-stream" in content_type:
            await self._relay_stream(send, info, decision, response, headers,
                                     SSEChatFilter(self.inspector, decision.canaries, buffer_limit))
        elif inspect and textual and declared is not None and declared <= buffer_limit:
            body = await response.read()
            await self._relay_buffered(send, info, decision, response.status, headers, body, content_type)
        elif inspect and textual:
            await self._relay_stream(send, info, decision, response, headers,
                                     TextStreamFilter(self.inspector, decision.canaries))
        else:
            await send({"type": "http.response.start", "status": response.status,
                        "headers": [*headers, *_length(declared)]})
            async for chunk in response.content.iter_any():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def _relay_buffered(self, send: Send, info: RequestInfo, decision: Decision, status: int,
                              headers: list[tuple[bytes, bytes]], body: bytes, content_type: str) -> None:
        with self.metrics.stage("response_inspection"):
            action, reasons, categories, body = self._inspect_body(body, content_type, decision.canaries)
        if action != "allow":
            await self._record_response(info, decision, action, reasons, categories)
        if action == "block":
            blocked = _response_decision(decision, reasons, categories)
            blocked.extracted = decision.extracted
            headers_out = {"X-Correlation-Id": decision.correlation_id, "X-Shield-Decision": "block"}
            if self._refuse_as_completion(blocked):
                model = decision.extracted.model if decision.extracted else None
                await send_refusal(send, blocked, headers_out, stream=False, model=model)
                return
            await send_simple(send, *json_error_from(blocked, headers_out))
            return
        await send_simple(send, status, [*headers, *_length(len(body))], body)

    def _inspect_body(self, body: bytes, content_type: str, canaries: list[str]) -> tuple[str, list[str], list[str],
                                                                                             bytes]:
        text = body.decode("utf-8", "replace")
        if "json" in content_type:
            try:
                document = parse_json(body)
            except Exception:
                document = None
            if document is not None:
                located = list(openai_response_texts(document)) or [
                    (s.path, s.text) for s in walk_strings(document, (), "json")]
                action, reasons, categories = "allow", [], []
                changed = False
                for path, value in located:
                    verdict = self.inspector.inspect(value, canaries)
                    reasons += [r for r in verdict.reasons if r not in reasons]
                    categories += [c for c in verdict.categories if c not in categories]
                    if verdict.action == "block":
                        return "block", reasons, categories, body
                    if verdict.action == "redact" and path:
                        set_at(document, path, verdict.text)
                        action, changed = "redact", True
                if changed:
                    body = json.dumps(document, ensure_ascii=False).encode()
                return action, reasons, categories, body
        verdict = self.inspector.inspect(text, canaries)
        new_body = verdict.text.encode() if verdict.action == "redact" else body
        return verdict.action, verdict.reasons, verdict.categories, new_body

    async def _relay_stream(self, send: Send, info: RequestInfo, decision: Decision, response: Any,
                            headers: list[tuple[bytes, bytes]],
                            stream_filter: SSEChatFilter | TextStreamFilter) -> None:
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        is_sse = isinstance(stream_filter, SSEChatFilter)
        try:
            async for chunk in response.content.iter_any():
                out = stream_filter.feed(chunk)
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            tail = stream_filter.close()
        except ResponseBlocked as blocked:
            self.metrics.stream_cutoffs.labels("canary" if "canary" in str(blocked) else "sensitive").inc()
            await self._record_response(info, decision, "block", blocked.reasons, ["stream"])
            error = {"error": {"type": "response_blocked", "message": "Response cut off by the ShieldStorm gateway.",
                               "reasons": blocked.reasons, "correlation_id": decision.correlation_id}}
            payload = json.dumps(error).encode()
            if is_sse and self.config.mode == "openai" and self.config.openai_refusals:
                # LLM clients understand a content_filter finish better than an unknown error event.
                chunk = {"id": f"shield-{decision.correlation_id}", "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": REFUSAL_TEXT},
                                      "finish_reason": "content_filter"}]}
                payload = json.dumps(chunk).encode()
            final = b"data: " + payload + b"\n\ndata: [DONE]\n\n" if is_sse else b"\n" + payload
            await send({"type": "http.response.body", "body": final})
            return
        await send({"type": "http.response.body", "body": tail})
        guard_actions = (stream_filter.redacted if isinstance(stream_filter, SSEChatFilter)
                         else "redact" in stream_filter.guard.actions)
        if guard_actions:
            await self._record_response(info, decision, "redact", ["sensitive data redacted in stream"], ["stream"])

    async def _record_response(self, info: RequestInfo, decision: Decision, action: str, reasons: list[str],
                               categories: list[str]) -> None:
        record = _response_decision(decision, reasons, categories, action)
        summary = self.pipeline.record(record)
        await self.audit.record(summary, mode=self.config.mode, method=info.method, path=info.path,
                                client_ip=info.client_ip)

    # --- health -----------------------------------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {"detector": "ok", "policy": self.pipeline.policy.kind}
        ready = True
        if self.upstream is not None:
            checks["upstream_circuit"] = self.upstream.breaker.state
            ready = ready and self.upstream.breaker.state != "open"
        limiter = self.pipeline.limiter
        if limiter.redis is not None:
            try:
                await asyncio.wait_for(limiter.redis.ping(), 0.5)
                checks["redis"] = "ok"
            except Exception:
                checks["redis"] = f"down (on_redis_down={limiter.config.on_redis_down})"
                ready = ready and limiter.config.on_redis_down != "closed"
        if self.config.audit.enabled:
            checks["audit"] = "ok" if self.audit.log is not None else f"unavailable: {self.audit.error}"
        return ready, checks


_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def _new_id() -> str:
    """A correlation id unique per process (random prefix) and per request (counter): 32 hex characters like a
    UUID's, without a getrandom() system call per request. It identifies, it does not authenticate (clients may
    choose their own with X-Request-Id)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _length(length: int | None) -> list[tuple[bytes, bytes]]:
    return [] if length is None else [(b"content-length", str(length).encode())]


def _response_decision(request: Decision, reasons: list[str], categories: list[str], action: str = "block") -> Decision:
    return Decision(action=action, status=502 if action == "block" else 200, risk=1.0 if action == "block" else 0.5,
                    reasons=reasons, correlation_id=request.correlation_id, error_type="response_blocked",
                    identity=request.identity, categories=categories, direction="response")


REFUSAL_TEXT = "I can't help with that request."


async def send_refusal(send: Send, decision: Decision, headers: dict[str, str], *, stream: bool,
                       model: str | None) -> None:
    """An OpenAI-compatible refusal: finish_reason `content_filter`, reasons in a `shield` field (no content)."""
    identifier = f"shield-{decision.correlation_id}"
    created = int(time.time())
    shield_info = {"decision": decision.action, "reasons": decision.reasons, "correlation_id": decision.correlation_id}
    if stream:
        chunk = {"id": identifier, "object": "chat.completion.chunk", "created": created, "model": model or "shield",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": REFUSAL_TEXT},
                              "finish_reason": "content_filter"}], "shield": shield_info}
        body = b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"
        content_type = b"text/event-stream"
    else:
        completion = {"id": identifier, "object": "chat.completion", "created": created, "model": model or "shield",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": REFUSAL_TEXT},
                                   "finish_reason": "content_filter"}],
                      "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, "shield": shield_info}
        body = json.dumps(completion).encode()
        content_type = b"application/json"
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send_simple(send, 200, raw, body)


def json_error_from(decision: Decision, headers: dict[str, str]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = decision.error_json()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return decision.status, raw, body


def create_app(config: ShieldConfig, shield: ShieldApp | None = None) -> Starlette:
    shield = shield or ShieldApp(config)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        ready, checks = await shield.readiness()
        return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                            status_code=200 if ready else 503)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(shield.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await shield.startup()
        try:
            yield
        finally:
            await shield.shutdown()

    app = _ShieldStarlette(
        shield,
        routes=[Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics),
                Mount("/", app=shield)],
        lifespan=lifespan,
    )
    app.state.shield = shield
    return app


class _ShieldStarlette(Starlette):
    """Starlette serves health, readiness, metrics and the lifespan; guarded traffic goes straight to the Shield
    (the same destination as the catch-all Mount, without a router match and middleware stack per request)."""

    def __init__(self, shield: ShieldApp, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shield = shield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in RESERVED_PATHS:
            await self._shield(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


