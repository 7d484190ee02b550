"""GCRA: the in-process limiter and the Redis Lua script (real Redis), and the Redis-down fallback."""

from __future__ import annotations

import asyncio

import pytest

from shieldstorm.shield.config import LimitConfig, RateLimitConfig
from shieldstorm.shield.ratelimit import LocalLimiter, RateKey, RateLimiter, RedisLimiter
from tests.services import free_port

TEN_PER_SECOND = LimitConfig(rate=10, period=1, burst=3)


def test_local_gcra_admits_the_burst_then_refills_at_the_rate():
    limiter = LocalLimiter()
    keys = [RateKey("principal", "p", TEN_PER_SECOND)]
    admitted = [limiter.check(keys, now=100.0).allowed for _ in range(4)]
    assert admitted == [True, True, True, False]
    refused = limiter.check(keys, now=100.0)
    assert refused.retry_after == pytest.approx(0.1)
    assert refused.headers()["Retry-After"] == "1"
    assert limiter.check(keys, now=100.1).allowed  # one emission interval later: one more
    assert not limiter.check(keys, now=100.1).allowed


def test_local_refusal_by_one_key_consumes_nothing_from_the_other():
    limiter = LocalLimiter()
    tenant = RateKey("tenant", "t", LimitConfig(rate=100, burst=100))
    principal = RateKey("principal", "t/p", LimitConfig(rate=1, period=60, burst=1))
    assert limiter.check([tenant, principal], now=0.0).allowed
    refused = limiter.check([tenant, principal], now=0.0)
    assert not refused.allowed and refused.scope == "principal"
    other = RateKey("principal", "t/q", LimitConfig(rate=1, period=60, burst=1))
    result = limiter.check([tenant, other], now=0.0)
    assert result.allowed
    assert limiter.check([tenant], now=0.0).remaining == 97  # two admitted requests used the tenant bucket


@pytest.mark.redis
async def test_redis_gcra_is_exact_under_concurrency(redis_url: str, redis_prefix: str):
    limiter = RedisLimiter(redis_url, prefix=redis_prefix, timeout=2.0)
    keys = [RateKey("principal", "p", LimitConfig(rate=1, period=60, burst=10))]
    try:
        results = await asyncio.gather(*(limiter.check(keys) for _ in range(50)))
    finally:
        await limiter.close()
    assert sum(r.allowed for r in results) == 10
    refused = [r for r in results if not r.allowed]
    assert all(r.retry_after > 0 and r.backend == "redis" for r in refused)
    assert min(r.remaining for r in results if r.allowed) == 0


@pytest.mark.redis
async def test_redis_multi_key_commit_is_all_or_nothing(redis_url: str, redis_prefix: str):
    limiter = RedisLimiter(redis_url, prefix=redis_prefix, timeout=2.0)
    tenant = RateKey("tenant", "t", LimitConfig(rate=1, period=60, burst=5))  # no refill during the test
    tight = RateKey("principal", "t/p", LimitConfig(rate=1, period=60, burst=1))
    try:
        assert (await limiter.check([tenant, tight])).allowed
        refused = await limiter.check([tenant, tight])
        assert not refused.allowed and refused.scope == "principal"
        # The refused request did not consume tenant capacity: 5 − 1 = 4 left, one more admitted leaves 3.
        after = await limiter.check([tenant])
        assert after.allowed and after.remaining == 3
    finally:
        await limiter.close()


async def test_redis_down_falls_back_to_local_and_counts_it():
    errors: list[str] = []
    config = RateLimitConfig(backend="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0",
                             per_tenant=None, per_principal=LimitConfig(rate=1, period=60, burst=2))
    limiter = RateLimiter(config, on_backend_error=errors.append)
    try:
        results = [await limiter.check("t", "p") for _ in range(3)]
    finally:
        await limiter.close()
    assert [r.allowed for r in results] == [True, True, False]
    assert {r.backend for r in results} == {"local"}
    assert limiter.fallback_active and len(errors) == 3


@pytest.mark.parametrize(("mode", "allowed", "backend"), [("open", True, "open"), ("closed", False, "closed")])
async def test_redis_down_open_and_closed_modes(mode: str, allowed: bool, backend: str):
    config = RateLimitConfig(backend="redis", redis_url=f"redis://127.0.0.1:{free_port()}/0", on_redis_down=mode)
    limiter = RateLimiter(config)
    try:
        result = await limiter.check("t", "p")
    finally:
        await limiter.close()
    assert (result.allowed, result.backend) == (allowed, backend)


@pytest.mark.redis
async def test_shield_uses_redis_and_reports_fallback_in_metrics(redis_url: str, redis_prefix: str, upstream,
                                                                 start_shield):
    import aiohttp

    from tests.shield.conftest import base_config

    config = base_config(upstream.url, rate_limit={
        "backend": "redis", "redis_url": redis_url, "key_prefix": redis_prefix,
        "per_principal": {"rate": 1, "period": 60, "burst": 1}})
    shield = await start_shield(config)
    async with aiohttp.ClientSession() as session:
        async with session.get(shield.url + "/x") as first:
            assert first.status == 200
        async with session.get(shield.url + "/x") as second:
            assert second.status == 429
            assert "Retry-After" in second.headers
        async with session.get(shield.url + "/metrics") as response:
            metrics = await response.text()
    assert "shieldstorm_shield_ratelimit_fallback_active 0.0" in metrics
    assert shield.shield.pipeline.recent[-1]["rate_backend"] == "redis"
