# Unit tests of the default Shield policy: `shieldstorm policy test src/shieldstorm/policy/policies/default`.
package shield

import rego.v1

test_clean_request_allowed if {
	decision.decision == "allow" with input as {"tenant": "acme", "risk": 0}
}

test_attack_blocked if {
	d := decision with input as {"attack": true, "risk": 0.9}
	d.decision == "block"
	d.reasons == ["attack"]
	d.status == 403
}

test_review_challenged if {
	decision.decision == "challenge" with input as {"attack": true, "risk": 0.6}
}

test_pii_redacted if {
	d := decision with input as {"detections": [{"kind": "pii", "category": "contact", "entity": "EMAIL", "pattern_id": "e", "severity": "medium"}]}
	d.decision == "redact"
	d.redact == ["contact"]
}

test_secret_in_response_blocked if {
	d := decision with input as {"direction": "response", "detections": [{"kind": "secret", "category": "credentials", "entity": "AWS_KEY", "pattern_id": "s", "severity": "high"}]}
	d.reasons == ["secret_in_response"]
}

test_canary_leak_blocked if {
	decision.reasons == ["canary_leak"] with input as {"canary_leak": true}
}

test_network_denied_blocks if {
	decision.reasons == ["network_denied"] with input as {"network": {"allowed": false}}
}

test_body_quota if {
	d := decision with input as {"body_size": 2000000}
	d.status == 413
}

test_tenant_override_lowers_block_threshold if {
	decision.decision == "block" with input as {"tenant": "strict-example", "attack": true, "risk": 0.65, "network": {"allowed": true}}
}

test_tenant_override_from_data if {
	d := decision with input as {"tenant": "t9", "attack": true, "risk": 0.2} with data.shield.tenants as {"t9": {"block_risk": 0.1}}
	d.decision == "block"
}

test_medium_injection_in_tool_result_blocked if {
	d := decision with input as {"risk": 0.4, "detections": [{"kind": "injection", "category": "instruction_override", "pattern_id": "PI-INS-007", "severity": "medium", "source": "tool_result"}]}
	d.decision == "block"
	d.reasons == ["injection_in_tool_result"]
}

test_medium_injection_in_user_turn_not_blocked if {
	d := decision with input as {"risk": 0.4, "detections": [{"kind": "injection", "category": "instruction_override", "pattern_id": "PI-INS-007", "severity": "medium", "source": "user"}]}
	d.decision == "allow"
}

test_low_injection_in_tool_result_not_blocked if {
	d := decision with input as {"detections": [{"kind": "injection", "category": "jailbreak_persona", "pattern_id": "PI-JB-025", "severity": "low", "source": "tool_result"}]}
	d.decision == "allow"
}

test_tool_result_rule_can_be_switched_off_per_tenant if {
	d := decision with input as {"tenant": "t8", "risk": 0.4, "detections": [{"kind": "injection", "category": "x", "pattern_id": "p", "severity": "high", "source": "tool_result"}]}
		with data.shield.tenants as {"t8": {"block_injection_in_tool_results": false}}
	d.decision == "allow"
}
