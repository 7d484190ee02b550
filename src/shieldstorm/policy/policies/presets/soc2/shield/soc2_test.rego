package shield

import rego.v1

test_soc2_allow_is_audited if {
	d := decision with input as {"principal": "svc-1"}
	d.decision == "allow"
	d.headers["X-Shield-Audit"] == "required"
}

test_soc2_block_is_audited if {
	d := decision with input as {"principal": "svc-1", "attack": true, "risk": 0.99}
	d.decision == "block"
	d.headers["X-Shield-Audit"] == "required"
}

test_soc2_anonymous_challenged if {
	d := decision with input as {}
	d.decision == "challenge"
	d.reasons == ["unauthenticated"]
}
