"""GCRA rate limiting per tenant and per principal: in-process (embedded default) or Redis (one atomic Lua script).

GCRA keeps one number per key, the theoretical arrival time (TAT). With emission interval T = period/rate and a
burst of B requests, a request costing n is admitted iff `max(TAT, now) + n·T − B·T <= now`; then TAT moves to
`max(TAT, now) + n·T`. Several keys (tenant, principal) are checked and committed together: a request refused by
one key consumes nothing from the others.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shieldstorm.shield.config import LimitConfig, RateLimitConfig


@dataclass(frozen=True)
class RateKey:
    scope: Literal["tenant", "principal"]
    name: str
    limit: LimitConfig
    # Derived once per key (keys are reused request after request): the local limiter's slot and GCRA numbers.
    slot: str = field(init=False, compare=False)
    interval: float = field(init=False, compare=False)
    capacity: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        interval, capacity = _params(self.limit)
        object.__setattr__(self, "slot", f"{self.scope}:{self.name}")
        object.__setattr__(self, "interval", interval)
        object.__setattr__(self, "capacity", capacity)


@dataclass(frozen=True)
class RateResult:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float  # until the bucket is full again
    retry_after: float  # 0 when allowed
    scope: str | None = None  # which key refused
    backend: str = "local"
    pressure: float = 0.0  # 0..1: how much of the burst is in use after this request

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_seconds)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return headers


UNLIMITED = RateResult(allowed=True, limit=0, remaining=0, reset_seconds=0.0, retry_after=0.0, backend="none")


def _params(limit: LimitConfig) -> tuple[float, float]:
    interval = limit.period / limit.rate
    return interval, interval * limit.burst


def _combine(keys: Sequence[RateKey], outcomes: list[tuple[bool, float, float, float]], backend: str) -> RateResult:
    """outcomes: per key (allowed, retry_after, reset, remaining-as-float). The tightest key is reported."""
    refused = [(key, out) for key, out in zip(keys, outcomes, strict=True) if not out[0]]
    if refused:
        key, out = max(refused, key=lambda item: item[1][1])
        return RateResult(False, key.limit.burst, 0, out[2], out[1], key.scope, backend, 1.0)
    index = min(range(len(keys)), key=lambda i: outcomes[i][3] / keys[i].limit.burst)
    key, out = keys[index], outcomes[index]
    remaining = int(out[3])
    return RateResult(True, key.limit.burst, remaining, out[2], 0.0, None, backend, 1.0 - out[3] / key.limit.burst)


class LocalLimiter:
    """In-process GCRA. Bounded: least recently used keys are evicted (their TAT is in the past anyway, mostly)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._tat: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys

    def check(self, keys: Sequence[RateKey], cost: int = 1, now: float | None = None) -> RateResult:
        if not keys:
            return UNLIMITED
        now = time.monotonic() if now is None else now
        outcomes: list[tuple[bool, float, float, float]] = []
        new_tats: list[float] = []
        allowed = True
        tats = self._tat
        for key in keys:
            interval = key.interval
            tat = tats.get(key.slot, now)
            if tat < now:
                tat = now
            new_tat = tat + cost * interval
            allow_at = new_tat - key.capacity
            if allow_at > now:
                allowed = False
                outcomes.append((False, allow_at - now, tat - now, 0.0))
            else:
                outcomes.append((True, 0.0, new_tat - now, (now - allow_at) / interval))
            new_tats.append(new_tat)
        if allowed:
            for key, new_tat in zip(keys, new_tats, strict=True):
                tats[key.slot] = new_tat
                tats.move_to_end(key.slot)
            while len(self._tat) > self._max_keys:
                self._tat.popitem(last=False)
        return _combine(keys, outcomes, "local")


# One round trip, atomic: checks every key, commits all or none. Time comes from the Redis server so that several
# Shield instances agree on "now". ARGV: cost, then (interval_us, capacity_us) per key. Returns, per key,
# {allowed, retry_after_us, reset_us, remaining_milli}.
GCRA_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local out = {}
local new_tats = {}
local all_ok = 1
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local capacity = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  local allow_at = new_tat - capacity
  if allow_at > now then
    all_ok = 0
    out[#out + 1] = {0, allow_at - now, tat - now, 0}
  else
    out[#out + 1] = {1, 0, new_tat - now, math.floor((now - allow_at) * 1000 / interval)}
  end
  new_tats[i] = new_tat
end
if all_ok == 1 then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, new_tats[i], 'PX', math.ceil((new_tats[i] - now) / 1000) + 1)
  end
end
return out
"""


class RedisLimiter:
    """GCRA in Redis via one Lua script (EVALSHA). Raises redis errors to the caller, which applies the fallback."""

    def __init__(self, url: str, *, prefix: str, timeout: float) -> None:
        import redis.asyncio as aioredis

        self._client: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
        )
        self._script = self._client.register_script(GCRA_LUA)
        self._prefix = prefix

    async def check(self, keys: Sequence[RateKey], cost: int = 1) -> RateResult:
        if not keys:
            return UNLIMITED
        args: list[float] = [cost]
        for key in keys:
            args += [round(key.interval * 1e6), round(key.capacity * 1e6)]
        raw = await self._script(keys=[f"{self._prefix}{k.scope}:{k.name}" for k in keys], args=args)
        outcomes = [(bool(int(a)), int(r) / 1e6, int(s) / 1e6, int(m) / 1000) for a, r, s, m in raw]
        return _combine(keys, outcomes, "redis")

    async def ping(self) -> bool:
        return bool(await self._client.ping())

    async def close(self) -> None:
        await self._client.aclose()


class RateLimiter:
    """The Shield's limiter: Redis when configured, the local limiter otherwise or as the configured fallback."""

    def __init__(self, config: RateLimitConfig, *, on_backend_error: Any = None) -> None:
        self.config = config
        self.local = LocalLimiter()
        self.redis: RedisLimiter | None = None
        if config.enabled and config.backend == "redis" and config.redis_url:
            self.redis = RedisLimiter(config.redis_url, prefix=config.key_prefix, timeout=config.redis_timeout_seconds)
        self.fallback_active = False
        self._on_backend_error = on_backend_error
        self._keys: dict[tuple[str, str], list[RateKey]] = {}

    def keys_for(self, tenant: str, principal: str) -> list[RateKey]:
        # The same callers come back request after request: their (immutable) keys are built once.
        keys = self._keys.get((tenant, principal))
        if keys is not None:
            return keys
        keys = []
        if self.config.per_tenant is not None:
            keys.append(RateKey("tenant", tenant, self.config.per_tenant))
        if self.config.per_principal is not None:
            keys.append(RateKey("principal", f"{tenant}/{principal}", self.config.per_principal))
        if len(self._keys) >= 10_000:
            self._keys.clear()
        self._keys[(tenant, principal)] = keys
        return keys

    async def check(self, tenant: str, principal: str, cost: int = 1) -> RateResult:
        if not self.config.enabled:
            return UNLIMITED
        keys = self.keys_for(tenant, principal)
        if self.redis is None:
            return self.local.check(keys, cost)
        try:
            result = await self.redis.check(keys, cost)
        except Exception as exc:  # redis ConnectionError/TimeoutError/ResponseError: all mean "no answer"
            self.fallback_active = True
            if self._on_backend_error is not None:
                self._on_backend_error(type(exc).__name__)
            mode = self.config.on_redis_down
            if mode == "open":
                return RateResult(True, 0, 0, 0.0, 0.0, None, "open")
            if mode == "closed":
                return RateResult(False, 0, 0, 1.0, 1.0, "backend", "closed", 1.0)
            return self.local.check(keys, cost)
        self.fallback_active = False
        return result

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
