package shield

import rego.v1

test_hipaa_mrn_redacted if {
	d := decision with input as {"detections": [{"kind": "pii", "category": "identification", "entity": "MRN", "pattern_id": "mrn", "severity": "high"}]}
	d.decision == "redact"
	"MRN" in d.redact
	d.headers["X-Shield-Compliance-HIPAA"] == "phi-redacted"
}

test_hipaa_health_category_redacted_in_response if {
	d := decision with input as {"direction": "response", "detections": [{"kind": "pii", "category": "health", "entity": "DIAGNOSIS", "pattern_id": "dx", "severity": "high"}]}
	"health" in d.redact
}

test_hipaa_baa_tenant_receives_phi if {
	d := decision with input as {"tenant": "clinic", "direction": "response", "detections": [{"kind": "pii", "category": "x", "entity": "MRN", "pattern_id": "mrn", "severity": "high"}]}
		with data.shield.tenants as {"clinic": {"hipaa_baa": true}}
	d.decision == "allow"
}
