"""`shield.yaml`: every knob of the Shield, validated by Pydantic (unknown keys are errors, not silently ignored).

Secrets never sit in the file: API keys are stored as SHA-256 hex digests, and tokens/upstream credentials are
read from environment variables named in the file (`*_env`).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shieldstorm.errors import ConfigError

Mode = Literal["proxy", "openai", "authz"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiKeyConfig(_Strict):
    """One API key. Give its SHA-256 hex digest (`key_sha256`) or the name of an env var holding it (`key_env`)."""

    key_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    key_env: str | None = None
    tenant: str = Field(min_length=1, max_length=128)
    principal: str = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _one_source(self) -> ApiKeyConfig:
        if (self.key_sha256 is None) == (self.key_env is None):
            raise ValueError("give exactly one of key_sha256 or key_env")
        return self


class JwtConfig(_Strict):
    """OIDC bearer tokens (Okta, Auth0, Entra ID): signature checked against the issuer's JWKS."""

    jwks_url: str
    issuer: str | None = None
    audience: str | None = None
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    tenant_claim: str = Field(default="tenant", description="Dotted claim path giving the tenant, e.g. `org.id`")
    principal_claim: str = Field(default="sub")
    default_tenant: str | None = Field(default=None, description="Tenant when the token has no tenant claim")
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    leeway_seconds: int = Field(default=30, ge=0)


class IdentityConfig(_Strict):
    api_key_header: str = "x-api-key"
    api_keys: list[ApiKeyConfig] = Field(default_factory=list)
    jwt: JwtConfig | None = None
    allow_anonymous: bool = Field(default=True, description="Requests without credentials get the anonymous tenant")
    anonymous_tenant: str = "anonymous"


class LimitConfig(_Strict):
    """GCRA limit: `rate` requests per `period` seconds, with bursts up to `burst` requests."""

    rate: float = Field(gt=0)
    period: float = Field(default=1.0, gt=0)
    burst: int = Field(default=1, ge=1)


class RateLimitConfig(_Strict):
    enabled: bool = True
    backend: Literal["local", "redis"] = "local"
    redis_url: str | None = None
    redis_timeout_seconds: float = Field(default=0.05, gt=0)
    key_prefix: str = "shieldstorm:rl:"
    per_tenant: LimitConfig | None = Field(default_factory=lambda: LimitConfig(rate=2000, burst=4000))
    per_principal: LimitConfig | None = Field(default_factory=lambda: LimitConfig(rate=200, burst=400))
    on_redis_down: Literal["local", "open", "closed"] = Field(
        default="local", description="Redis unreachable: use the in-process limiter, admit all, or refuse all"
    )

    @model_validator(mode="after")
    def _redis_url(self) -> RateLimitConfig:
        if self.backend == "redis" and not self.redis_url:
            raise ValueError("backend redis needs redis_url")
        return self


class ExtractionConfig(_Strict):
    """What text of a request body is scanned."""

    format: Literal["auto", "openai", "paths", "raw"] = "auto"
    json_paths: list[str] = Field(default_factory=list, description="e.g. `input.text`, `messages[*].content`")
    scan_raw_text: bool = Field(default=True, description="Scan non-JSON text bodies as one text")
    trust_system_prompt: bool = Field(
        default=True,
        description="PII/secrets in the system prompt are the operator's own: not redacted and not a reason to "
        "redact (injection patterns in it still count)",
    )
    max_segments: int = Field(default=512, ge=1)


class RiskConfig(_Strict):
    """Composite risk = 1 − Π(1 − wᵢ·sᵢ) over detector, anomaly and rate signals (a weighted noisy-OR)."""

    detector_weight: float = Field(default=1.0, ge=0, le=1)
    anomaly_weight: float = Field(default=0.3, ge=0, le=1)
    rate_weight: float = Field(default=0.1, ge=0, le=1)
    challenge_threshold: float = Field(default=0.6, ge=0, le=1)
    block_threshold: float = Field(default=0.8, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> RiskConfig:
        if self.challenge_threshold > self.block_threshold:
            raise ValueError("challenge_threshold must not exceed block_threshold")
        return self


class SignalsConfig(_Strict):
    enabled: bool = True
    window_seconds: float = Field(default=60.0, gt=0)
    max_principals: int = Field(default=10_000, ge=1)
    burst_baseline: int = Field(default=120, ge=1, description="Requests per window that count as normal")
    isolation_forest: Path | None = Field(default=None, description="Exported forest JSON (shield train-anomaly)")


class ResponseConfig(_Strict):
    inspect: bool = True
    canaries: list[str] = Field(default_factory=list, description="Strings that must never appear in a response")
    canary_pattern: str | None = Field(
        default=r"(?:CANARY|canary)[-_:][A-Za-z0-9_-]{6,64}",
        description="Regex (RE2 syntax) for canary tokens taken from the system prompt of each request",
    )
    pii_action: Literal["redact", "block", "allow"] = "redact"
    secret_action: Literal["redact", "block", "allow"] = "block"
    max_buffer_bytes: int = Field(default=4 << 20, ge=1024)
    stream_holdback_chars: int = Field(default=96, ge=0, le=4096)


class UpstreamConfig(_Strict):
    url: str | None = None
    connect_timeout: float = Field(default=2.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    total_timeout: float = Field(default=300.0, gt=0)
    max_connections: int = Field(default=256, ge=1)
    failure_threshold: int = Field(default=5, ge=1, description="Consecutive failures that open the circuit")
    reset_seconds: float = Field(default=10.0, gt=0, description="How long an open circuit refuses calls")
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="Headers added upstream, value read from env var (e.g. provider keys)"
    )
    strip_client_authorization: bool = Field(default=False, description="True in openai mode unless set")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        # Caught here, not at the first proxied request: a typo would otherwise serve 502s until noticed.
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http:// or https:// URL with a host, not {value!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}: {exc}") from None
        return value


class TlsConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = Field(default=None, description="Set to require client certificates (mTLS)")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls: TlsConfig | None = None
    quic_port: int | None = Field(default=None, description="HTTP/3 listener (needs the `quic` extra and tls)")
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs whose X-Forwarded-For is honoured")
    max_body_bytes: int = Field(default=1 << 20, ge=1)
    max_headers: int = Field(default=100, ge=1)
    max_header_bytes: int = Field(default=32 << 10, ge=256)
    body_timeout_seconds: float = Field(default=10.0, gt=0, description="Slow clients: whole body must arrive")

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class AdminConfig(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9090, ge=0, le=65535)
    token_env: str = Field(default="SHIELDSTORM_ADMIN_TOKEN", description="Env var holding the admin bearer token")
    recent_decisions: int = Field(default=500, ge=1)


class AuditConfig(_Strict):
    enabled: bool = True
    url: str | None = Field(default=None, description="Database URL; default: embedded SQLite in the data dir")
    wait: bool = Field(default=False, description="Answer only after the decision is durable")


class CreditsConfig(_Strict):
    enabled: bool = False
    url: str | None = None
    cost_rules: Path | None = None
    default_cost: int = Field(default=1, ge=0)


class PolicyConfig(_Strict):
    directory: Path | None = Field(default=None, description="Rego bundle (directory or archive) trusted at start; "
                                   "default: the built-in Shield policy")
    # What a policy error or undefined result becomes. There is deliberately no "open": a broken policy must
    # never turn into an allow. `challenge` is the softer option for deployments that can re-authenticate.
    fail_mode: Literal["closed", "challenge"] = "closed"
    source: str | None = Field(default=None, description="Hot reload: bundle directory, archive or bundle-server URL "
                               "polled in the background (verified, tested, then swapped in atomically)")
    follow_database: bool = Field(default=False, description="Hot reload from `policy activate` history instead")
    database_url: str | None = None
    public_keys: list[Path] = Field(default_factory=list, description="PEM keys that may sign reloaded bundles")
    require_signature: bool = True
    shadow_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    poll_seconds: float = Field(default=15.0, gt=0)
    inline_max_ms: float = Field(
        default=1.0, ge=0,
        description="A new policy input is evaluated on the event loop while the engine's running mean evaluation "
        "CPU time stays at or below this; a slower policy is evaluated on a worker thread so it does not stall other "
        "connections (0: always a thread)",
    )


class DetectionConfig(_Strict):
    patterns_dir: Path | None = Field(default=None, description="Extra user pattern directory")


class ShieldConfig(_Strict):
    mode: Mode = "proxy"
    openai_refusals: bool = Field(
        default=True,
        description="openai mode: a blocked chat completion is answered as a 200 completion with a refusal and "
        "finish_reason `content_filter` (what LLM clients expect) instead of an HTTP error",
    )
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    identity: IdentityConfig = Field(default_factory=IdentityConfig)
    rate_limit: RateLimitConfig = Field(default_factory=RateLimitConfig)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    signals: SignalsConfig = Field(default_factory=SignalsConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    response: ResponseConfig = Field(default_factory=ResponseConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    credits: CreditsConfig = Field(default_factory=CreditsConfig)
    header_allowlist: list[str] = Field(
        default_factory=lambda: ["content-type", "user-agent", "accept", "x-request-id", "openai-organization"],
        description="Request headers passed to the policy input",
    )

    @model_validator(mode="after")
    def _needs_upstream(self) -> ShieldConfig:
        if self.mode != "authz" and not self.upstream.url:
            raise ValueError(f"mode {self.mode} needs upstream.url (or --upstream)")
        if self.server.quic_port is not None and self.server.tls is None:
            raise ValueError("server.quic_port needs server.tls (QUIC is always encrypted)")
        return self


def _format_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "<root>"
    return f"{where}: {first['msg']}"


def load_config(path: Path | None = None, **overrides: Any) -> ShieldConfig:
    """Read `shield.yaml` (or defaults) and apply CLI overrides like `upstream_url`/`port`. Errors → ConfigError."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not valid UTF-8 (bad byte at offset {exc.start})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
        except RecursionError:
            raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None
        if raw is not None and not isinstance(raw, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        data = raw or {}
    if overrides.get("mode"):
        data["mode"] = overrides["mode"]
    if overrides.get("upstream_url"):
        data.setdefault("upstream", {})["url"] = overrides["upstream_url"]
    for key in ("host", "port"):
        if overrides.get(key) is not None:
            data.setdefault("server", {})[key] = overrides[key]
    try:
        config = ShieldConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path or 'shield config'}: {_format_error(exc)}") from exc
    return config


def env_secret(name: str) -> str | None:
    value = os.environ.get(name)
    return value or None
