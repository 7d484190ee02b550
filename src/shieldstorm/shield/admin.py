"""The admin REST API (FastAPI, OpenAPI schema at /openapi.json) on its own port.

Every route needs `Authorization: Bearer <token>`, the token read from the env var named by `admin.token_env`;
with that variable unset the API refuses everything (fail closed). Effective config is shown with secrets absent
by construction (the config holds only digests and env var names).
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shieldstorm.shield.app import ShieldApp
from shieldstorm.shield.config import env_secret

bearer = HTTPBearer(auto_error=False)


def create_admin_app(shield: ShieldApp) -> FastAPI:
    api = FastAPI(title="ShieldStorm Shield admin API", version="1")
    token_env = shield.config.admin.token_env

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        expected = env_secret(token_env)
        if expected is None:
            raise HTTPException(503, f"admin API disabled: {token_env} is not set")
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
            raise HTTPException(401, "invalid admin token", headers={"WWW-Authenticate": "Bearer"})

    guard = [Depends(authorised)]

    @api.get("/decisions", dependencies=guard, summary="Recent decisions, newest first")
    async def decisions(limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                        action: str | None = None) -> list[dict[str, Any]]:
        items = [d for d in reversed(shield.pipeline.recent) if action is None or d["action"] == action]
        return items[:limit]

    @api.get("/config", dependencies=guard, summary="Effective configuration")
    async def effective_config() -> dict[str, Any]:
        return shield.config.model_dump(mode="json")

    @api.post("/patterns/reload", dependencies=guard, summary="Rebuild the detector from its pattern files")
    async def reload_patterns() -> dict[str, Any]:
        try:
            generation = shield.pipeline.detection.reload()
        except Exception as exc:  # the old detector stays active
            raise HTTPException(422, f"pattern reload failed, previous patterns kept: {exc}") from exc
        return {"status": "reloaded", "generation": generation}

    @api.get("/policy", dependencies=guard, summary="Active policy status")
    async def policy_status() -> dict[str, Any]:
        status = shield.pipeline.policy.status()
        holder = shield.pipeline.policy.holder
        if holder is not None:
            status["swaps"] = holder.swaps
            status["recent_divergences"] = [d.as_dict() for d in list(holder.divergences)[-20:]]
        return status

    @api.get("/status", dependencies=guard, summary="Readiness, rate limiter and audit state")
    async def status() -> dict[str, Any]:
        ready, checks = await shield.readiness()
        return {"ready": ready, "checks": checks, "mode": shield.config.mode,
                "rate_limit_fallback": shield.pipeline.limiter.fallback_active,
                "decisions_seen": len(shield.pipeline.recent)}

    @api.get("/audit/head", dependencies=guard, summary="Audit log size and root hash")
    async def audit_head() -> dict[str, Any]:
        log = shield.audit.log
        if log is None:
            raise HTTPException(503, f"audit log unavailable: {shield.audit.error or 'disabled'}")
        size, root = log.head()
        return {"size": size, "root": root.hex(), "spooled": log.spooled, "origin": log.origin}

    @api.get("/credits/{tenant}", dependencies=guard, summary="Credit balance of a tenant")
    async def credits_balance(tenant: str) -> dict[str, Any]:
        if shield.credits is None:
            raise HTTPException(404, "credits are not enabled")
        balance = await shield.credits.balance(tenant)
        return balance.model_dump()  # type: ignore[no-any-return]

    return api
