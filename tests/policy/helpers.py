"""Small bundles for lifecycle tests: a policy whose decision reason names its revision, plus its own test."""

from __future__ import annotations

import json

from shieldstorm.policy.bundle import PolicyBundle
from shieldstorm.policy.signing import sign_bundle

POLICY = """package shield
import rego.v1

decision := {"decision": "block", "reasons": [data.shield.tag], "status": 403} if input.risk > data.shield.limit
else := {"decision": "allow", "reasons": [data.shield.tag]}
"""

TEST = """package shield
import rego.v1

test_low_risk_allowed if {
    decision.decision == "allow" with input as {"risk": 0}
}
"""


def make_bundle(
    revision: str,
    *,
    limit: float = 0.5,
    tag: str | None = None,
    key: bytes | None = None,
    test: str = TEST,
    policy: str = POLICY,
) -> PolicyBundle:
    files = {
        ".manifest": json.dumps({"revision": revision, "roots": ["shield"]}).encode(),
        "shield/policy.rego": policy.encode(),
        "shield/policy_test.rego": test.encode(),
        "shield/data.json": json.dumps({"limit": limit, "tag": tag or f"rev-{revision}"}).encode(),
    }
    bundle = PolicyBundle(files=files, source=f"rev-{revision}")
    return sign_bundle(bundle, key) if key else bundle
