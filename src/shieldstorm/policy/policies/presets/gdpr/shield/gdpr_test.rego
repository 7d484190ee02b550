package shield

import rego.v1

test_gdpr_personal_data_minimised if {
	d := decision with input as {"model": "mistral-large", "detections": [{"kind": "pii", "category": "contact", "entity": "EMAIL", "pattern_id": "e", "severity": "low"}]}
	d.decision == "redact"
	d.redact == ["contact"]
}

test_gdpr_transfer_outside_region_blocked if {
	d := decision with input as {"model": "gpt-4o-mini", "detections": [{"kind": "pii", "category": "contact", "entity": "EMAIL", "pattern_id": "e", "severity": "low"}]}
	d.reasons == ["gdpr_transfer_outside_region"]
}

test_gdpr_no_personal_data_any_region if {
	decision.decision == "allow" with input as {"model": "gpt-4o-mini"}
}

test_gdpr_region_tag if {
	d := decision with input as {"tenant": "acme-eu"} with data.shield.tenants as {"acme-eu": {"region": "eu-west-1"}}
	d.headers["X-Data-Region"] == "eu-west-1"
}
