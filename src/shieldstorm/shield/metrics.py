"""Prometheus metrics and OpenTelemetry spans for the Shield. Names are used by deploy/grafana-dashboard.json and
deploy/prometheus-alerts.yml: rename them there too.

Each app gets its own CollectorRegistry (several Shields in one process, e.g. tests, do not collide).
Tracing: spans per pipeline stage via the OpenTelemetry API. The SDK and an exporter are installed only when
`OTEL_TRACES_EXPORTER` is set (`console`, or `otlp` when opentelemetry-exporter-otlp is installed); otherwise the
API's no-op tracer keeps the hot path free of tracing cost.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge

from shieldstorm.errors import ConfigError
from shieldstorm.shield.loop_histogram import LoopHistogram

STAGE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0)
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MAX_TENANT_LABELS = 200  # beyond this many distinct tenants, new ones are counted as "other" (label cardinality)


class ShieldMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decisions = Counter("shieldstorm_shield_decisions", "Shield decisions by action, tenant and category",
                                 ["action", "tenant", "category", "direction"], registry=r)
        # Observed ten times per request, from the event loop only: lock-free (loop_histogram.py).
        self.stage_seconds = LoopHistogram("shieldstorm_shield_stage_seconds", "Latency of each pipeline stage",
                                           ["stage"], buckets=STAGE_BUCKETS, registry=r)
        self.request_seconds = LoopHistogram("shieldstorm_shield_request_seconds",
                                             "Whole request latency including the upstream", ["mode"],
                                             buckets=REQUEST_BUCKETS, registry=r)
        self.upstream_errors = Counter("shieldstorm_shield_upstream_errors", "Upstream failures by kind",
                                       ["upstream", "kind"], registry=r)
        self.circuit_open = Gauge("shieldstorm_shield_circuit_open", "1 while the upstream circuit is open",
                                  ["upstream"], registry=r)
        self.ratelimit_rejections = Counter("shieldstorm_shield_ratelimit_rejections", "Requests refused by rate limit",
                                            ["tenant", "scope"], registry=r)
        self.ratelimit_backend_errors = Counter("shieldstorm_shield_ratelimit_backend_errors",
                                                "Rate-limit backend (Redis) failures", ["error"], registry=r)
        self.ratelimit_fallback = Gauge("shieldstorm_shield_ratelimit_fallback_active",
                                        "1 while the rate limiter runs on its Redis-down fallback", registry=r)
        self.client_errors = Counter("shieldstorm_shield_client_errors", "Malformed or abusive client requests",
                                     ["kind"], registry=r)
        self.audit_failures = Counter("shieldstorm_shield_audit_failures", "Decisions that could not be audited",
                                      registry=r)
        self.stream_cutoffs = Counter("shieldstorm_shield_stream_cutoffs", "Streamed responses cut off mid-stream",
                                      ["reason"], registry=r)
        self._tenants: set[str] = set()
        self._stage_children: dict[str, Any] = {}
        self.tracer = trace.get_tracer("shieldstorm.shield")

    def tenant_label(self, tenant: str) -> str:
        if tenant in self._tenants:
            return tenant
        if len(self._tenants) < MAX_TENANT_LABELS:
            self._tenants.add(tenant)
            return tenant
        return "other"

    def stage(self, name: str) -> contextlib.AbstractContextManager[Any]:
        """Times one pipeline stage into its histogram (and a span when tracing is on)."""
        histogram = self._stage_children.get(name)
        if histogram is None:
            histogram = self._stage_children[name] = self.stage_seconds.labels(name)
        if not tracing_enabled():  # no provider installed: skip even the no-op span machinery on the hot path
            return _Timed(histogram)
        return self._traced_stage(name, histogram)

    @contextlib.contextmanager
    def _traced_stage(self, name: str, histogram: Any) -> Iterator[Any]:
        started = time.perf_counter()
        with self.tracer.start_as_current_span(f"shield.{name}") as span:
            try:
                yield span
            finally:
                histogram.observe(time.perf_counter() - started)

    def record_decision(self, action: str, tenant: str, categories: list[str], direction: str = "request") -> None:
        label = self.tenant_label(tenant)
        for category in categories or ["none"]:
            self.decisions.labels(action, label, category, direction).inc()


class _Timed:
    """A plain class rather than a generator context manager: a request passes through nine stages."""

    __slots__ = ("histogram", "started")

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        self.started = time.perf_counter()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.histogram.observe(time.perf_counter() - self.started)


_tracing_configured = False
# Read once: OpenTelemetry loads a provider named by this variable on the first get_tracer_provider() call.
_ENV_PROVIDER = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ


def tracing_enabled() -> bool:
    """True once an SDK tracer provider is installed (by configure_tracing or by the embedding application).

    Called on every stage of every request: while no global provider is set (the API module's global is still
    None), the answer is False without `get_tracer_provider()`, which reads the environment on each call.
    """
    if _tracing_configured:
        return True
    if getattr(trace, "_TRACER_PROVIDER", True) is None and not _ENV_PROVIDER:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def configure_tracing() -> str | None:
    """Install the OTel SDK with the exporter named by OTEL_TRACES_EXPORTER (service name from OTEL_SERVICE_NAME)."""
    global _tracing_configured
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter_name or exporter_name == "none" or _tracing_configured:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if exporter_name == "console":
        exporter = ConsoleSpanExporter()
    elif exporter_name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore
        except ImportError as exc:
            raise ConfigError("OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http") from exc
        exporter = OTLPSpanExporter()  # endpoint/headers from OTEL_EXPORTER_OTLP_* env vars
    else:
        raise ConfigError(f"OTEL_TRACES_EXPORTER={exporter_name!r}: supported values are console, otlp, none")
    service = os.environ.get("OTEL_SERVICE_NAME", "shieldstorm-shield")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _tracing_configured = True
    return exporter_name
