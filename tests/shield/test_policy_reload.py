"""The Shield follows a policy bundle source: a changed bundle is swapped in without a restart."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp

from shieldstorm.policy import engine as policy_engine
from tests.shield.conftest import ShieldFactory, Upstream, base_config

MAINTENANCE = """package shield

import rego.v1

decision := {"decision": "block", "reasons": ["maintenance"], "redact": [], "status": 503, "headers": {}}
"""


async def test_policy_hot_reload_and_status(tmp_path: Path, upstream: Upstream, start_shield: ShieldFactory):
    bundle = tmp_path / "bundle"
    shutil.copytree(policy_engine.DEFAULT_POLICY_DIR, bundle)
    config = base_config(upstream.url, policy={"source": str(bundle), "require_signature": False,
                                               "poll_seconds": 0.2})
    shield = await start_shield(config)
    gate = shield.shield.pipeline.policy
    first = gate.status()
    assert first["kind"] == "rego" and first["reload"]["polls"] >= 1
    async with aiohttp.ClientSession() as session:
        async with session.get(shield.url + "/x") as response:
            assert response.status == 200
        # A bundle whose own Rego tests fail is rejected: the running policy stays.
        (bundle / "shield" / "decision.rego").write_text(MAINTENANCE)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if gate.status()["reload"]["rejections"] >= 1:
                break
        assert gate.status()["digest"] == first["digest"]
        async with session.get(shield.url + "/x") as response:
            assert response.status == 200
        for test_file in (bundle / "shield").glob("*_test.rego"):
            test_file.unlink()
        for _ in range(100):
            await asyncio.sleep(0.1)
            if gate.status()["digest"] != first["digest"]:
                break
        async with session.get(shield.url + "/x") as response:
            body = await response.json()
    assert response.status == 503
    assert body["error"]["reasons"][0] == "maintenance"
    assert json.dumps(gate.status())  # status is JSON-serialisable for the admin API
