"""Identity: who is calling. An API key (looked up by its SHA-256) or an OIDC JWT checked against the issuer's JWKS.

The JWKS is fetched with aiohttp and cached for `jwks_cache_seconds`; an unknown `kid` triggers one early refresh
(key rotation) at most every 10 seconds, so a flood of forged kids cannot hammer the identity provider.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from shieldstorm.shield.config import IdentityConfig, JwtConfig, env_secret


@dataclass(frozen=True)
class Identity:
    tenant: str
    principal: str
    method: str  # "api_key" | "jwt" | "anonymous"


class AuthError(Exception):
    """Credentials missing or invalid. The message is safe to show (never contains the credential)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def _claim(claims: dict[str, Any], dotted: str) -> Any:
    value: Any = claims
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


class JwksCache:
    MIN_REFRESH_INTERVAL = 10.0

    def __init__(self, config: JwtConfig, session_factory: Any) -> None:
        self.config = config
        self._session_factory = session_factory
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self) -> KeySet:
        session: aiohttp.ClientSession = self._session_factory()
        timeout = aiohttp.ClientTimeout(total=5)
        try:
            async with session.get(self.config.jwks_url, timeout=timeout) as response:
                if response.status != 200:
                    raise AuthError(f"identity provider JWKS answered HTTP {response.status}", 503)
                document = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise AuthError(f"identity provider JWKS unreachable ({type(exc).__name__})", 503) from exc
        try:
            return KeySet.import_key_set(document)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise AuthError("identity provider JWKS is malformed", 503) from exc

    async def keys(self, *, refresh: bool = False) -> KeySet:
        now = time.monotonic()
        stale = self._keys is None or now - self._fetched_at > self.config.jwks_cache_seconds
        may_refresh = refresh and now - self._fetched_at > self.MIN_REFRESH_INTERVAL
        if stale or may_refresh:
            async with self._lock:
                if self._fetched_at <= now - (0 if stale else self.MIN_REFRESH_INTERVAL) or self._keys is None:
                    self._keys = await self._fetch()
                    self._fetched_at = time.monotonic()
        assert self._keys is not None
        return self._keys


class Authenticator:
    def __init__(self, config: IdentityConfig, session_factory: Any) -> None:
        self.config = config
        self.header = config.api_key_header.lower()
        self._keys: dict[str, Identity] = {}
        for entry in config.api_keys:
            digest = entry.key_sha256
            if entry.key_env is not None:
                secret = env_secret(entry.key_env)
                if secret is None:
                    continue  # an unset env var disables the key rather than matching the empty string
                digest = hashlib.sha256(secret.encode()).hexdigest()
            assert digest is not None
            self._keys[digest] = Identity(entry.tenant, entry.principal, "api_key")
        self.jwks = JwksCache(config.jwt, session_factory) if config.jwt else None
        self._claims: jwt.JWTClaimsRegistry | None = None
        if config.jwt is not None:
            options: dict[str, Any] = {"exp": {"essential": True}}
            if config.jwt.issuer:
                options["iss"] = {"essential": True, "value": config.jwt.issuer}
            if config.jwt.audience:
                options["aud"] = {"essential": True, "value": config.jwt.audience}
            self._claims = jwt.JWTClaimsRegistry(leeway=config.jwt.leeway_seconds, **options)

    async def identify(self, headers: dict[str, str]) -> Identity:
        """`headers` has lower-case names."""
        api_key = headers.get(self.header)
        bearer: str | None = None
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
        if api_key is None and bearer is not None and bearer.count(".") != 2:
            api_key = bearer  # "Authorization: Bearer <api key>", as OpenAI clients send it
            bearer = None
        if api_key is not None:
            found = self._keys.get(hashlib.sha256(api_key.encode()).hexdigest())
            if found is None:
                raise AuthError("invalid API key")
            return found
        if bearer is not None:
            if self.jwks is None:
                raise AuthError("bearer tokens are not accepted here")
            return await self._verify_jwt(bearer)
        if self.config.allow_anonymous:
            return Identity(self.config.anonymous_tenant, "anonymous", "anonymous")
        raise AuthError("credentials required")

    async def _verify_jwt(self, token: str) -> Identity:
        assert self.jwks is not None and self.config.jwt is not None and self._claims is not None
        settings = self.config.jwt
        keys = await self.jwks.keys()
        try:
            try:
                decoded = jwt.decode(token, keys, algorithms=settings.algorithms)
            except InvalidKeyIdError:  # key rotation: the issuer may have published a new key since we cached
                decoded = jwt.decode(token, await self.jwks.keys(refresh=True), algorithms=settings.algorithms)
            self._claims.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise AuthError(f"invalid token ({type(exc).__name__})") from exc
        claims = decoded.claims
        principal = _claim(claims, settings.principal_claim)
        tenant = _claim(claims, settings.tenant_claim) or settings.default_tenant
        if not isinstance(principal, str) or not principal:
            raise AuthError(f"token has no {settings.principal_claim} claim")
        if not isinstance(tenant, str) or not tenant:
            raise AuthError(f"token has no {settings.tenant_claim} claim", 403)
        return Identity(tenant[:128], principal[:256], "jwt")
