"""OpenTelemetry: one span per pipeline stage; the exporter comes from OTEL_* environment variables."""

from __future__ import annotations

import aiohttp
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shieldstorm.errors import ConfigError
from shieldstorm.shield import metrics as shield_metrics
from tests.shield.conftest import ShieldFactory, Upstream, base_config

EXPORTER = InMemorySpanExporter()


def _install_provider() -> None:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider can be set once per process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(EXPORTER))


async def test_every_stage_is_a_span(upstream: Upstream, start_shield: ShieldFactory):
    _install_provider()
    EXPORTER.clear()
    shield = await start_shield(base_config(upstream.url))
    async with aiohttp.ClientSession() as session, session.post(
            shield.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}) as response:
        assert response.status == 200
    names = {span.name for span in EXPORTER.get_finished_spans()}
    expected = {"identity", "rate_limit", "extraction", "detection", "signals", "policy", "decision",
                "upstream_connect", "response_inspection"}
    assert {f"shield.{stage}" for stage in expected} <= names


def test_exporter_is_chosen_by_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
    monkeypatch.setattr(shield_metrics, "_tracing_configured", False)
    with pytest.raises(ConfigError, match="supported values are console, otlp, none"):
        shield_metrics.configure_tracing()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert shield_metrics.configure_tracing() is None
