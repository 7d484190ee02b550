"""The Grafana dashboard and Prometheus alert rules only use metrics the Shield exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from shieldstorm.shield.metrics import ShieldMetrics

DEPLOY = Path(__file__).parents[2] / "deploy"
METRIC = re.compile(r"shieldstorm_shield_[a-z_]+")


def exported_series() -> set[str]:
    from prometheus_client import generate_latest

    metrics = ShieldMetrics()
    # Touch every labelled metric once so its series appear in the exposition.
    metrics.decisions.labels("block", "t", "c", "request").inc()
    metrics.stage_seconds.labels("policy").observe(0.001)
    metrics.request_seconds.labels("proxy").observe(0.01)
    metrics.upstream_errors.labels("u", "connect").inc()
    metrics.circuit_open.labels("u").set(0)
    metrics.ratelimit_rejections.labels("t", "principal").inc()
    metrics.ratelimit_backend_errors.labels("ConnectionError").inc()
    metrics.client_errors.labels("body_too_large").inc()
    metrics.stream_cutoffs.labels("canary").inc()
    text = generate_latest(metrics.registry).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_dashboard_and_alerts_use_exported_metrics():
    series = exported_series()
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    used = {name for expr in expressions for name in METRIC.findall(expr)}
    assert used, "no Shield metric referenced"
    assert sorted(used - series) == []
    assert all(rule["alert"] and rule["labels"]["severity"] for group in rules["groups"] for rule in group["rules"])
    # Every exported metric family is on the dashboard.
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", s) for s in series}
    on_dashboard = {re.sub(r"_(total|bucket|count|sum)$", "", n) for e in expressions[: len(expressions)]
                    for n in METRIC.findall(e)}
    assert families - on_dashboard == set()


def test_example_config_is_valid():
    from shieldstorm.shield.config import load_config

    config = load_config(DEPLOY / "shield.example.yaml")
    assert config.mode == "openai" and config.rate_limit.backend == "redis"
    assert config.identity.jwt is not None and config.identity.jwt.tenant_claim == "org_id"
