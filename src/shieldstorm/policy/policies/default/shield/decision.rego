# Default Shield policy. Entry point: data.shield.decision (bundle entry point "shield/decision").
#
# Precedence: block > challenge > redact > allow. Every knob lives in data.json (data.shield.defaults),
# and each tenant may override any top-level knob under data.shield.tenants.<tenant>.
#
# Written for rego-cpp (regopy): no net.* (network ACLs arrive pre-computed as input.network), no inline
# (?i) regex flags, timestamps with +00:00 instead of Z. Absent input keys are read with object.get so a
# missing field never makes the whole decision undefined (undefined is treated as a policy error anyway).
package shield

import rego.v1

tenant_overrides := object.get(data.shield.tenants, object.get(input, "tenant", ""), {})

cfg := object.union(data.shield.defaults, tenant_overrides)

detections := object.get(input, "detections", [])

direction := object.get(input, "direction", "request")

risk := object.get(input, "risk", 0)

# ---- block ----------------------------------------------------------------------------------------

block_reasons contains "attack" if {
	object.get(input, "attack", false) == true
	risk >= cfg.block_risk
}

block_reasons contains "canary_leak" if object.get(input, "canary_leak", false) == true

block_reasons contains "canary_leak" if {
	some d in detections
	d.kind == "canary"
}

block_reasons contains "secret_in_response" if {
	direction == "response"
	cfg.block_secrets_in_responses
	some d in detections
	d.kind == "secret"
}

block_reasons contains "network_denied" if object.get(input, "network", {"allowed": true}).allowed == false

block_reasons contains "body_too_large" if object.get(input, "body_size", 0) > cfg.quotas.max_body_bytes

block_reasons contains "rate_exceeded" if {
	cfg.quotas.rate_per_minute > 0
	object.get(input, "rate", 0) > cfg.quotas.rate_per_minute
}

block_reasons contains "model_not_allowed" if {
	count(cfg.quotas.models) > 0
	model := object.get(input, "model", "")
	model != ""
	not model in cfg.quotas.models
}

block_reasons contains "tool_not_allowed" if {
	count(cfg.quotas.tools) > 0
	some tool in object.get(input, "tools", [])
	not tool in cfg.quotas.tools
}

block_reasons contains "too_many_tools" if count(object.get(input, "tools", [])) > cfg.quotas.max_tools

# ---- challenge ------------------------------------------------------------------------------------

challenge_reasons contains "review" if object.get(input, "verdict", "") == "review"

challenge_reasons contains "review" if {
	risk >= cfg.review_risk
	count(block_reasons) == 0
}

# ---- redact ---------------------------------------------------------------------------------------

redact contains d.entity if {
	some d in detections
	d.kind in {"pii", "secret"}
	d.entity in cfg.redact
}

redact contains d.category if {
	some d in detections
	d.kind in {"pii", "secret"}
	d.category in cfg.redact
}

# ---- the decision ---------------------------------------------------------------------------------

# 413 and 429 are more useful to a client than a bare 403 when they are the only reason.
block_status := 413 if block_reasons == {"body_too_large"}
else := 429 if block_reasons == {"rate_exceeded"}
else := 403

decision := {
	"decision": "block",
	"reasons": sort(block_reasons),
	"redact": [],
	"status": block_status,
	"headers": {"X-Shield-Decision": "block"},
} if {
	count(block_reasons) > 0
} else := {
	"decision": "challenge",
	"reasons": sort(challenge_reasons),
	"redact": sort(redact),
	"status": 401,
	"headers": {"X-Shield-Decision": "challenge", "X-Shield-Challenge": "review"},
} if {
	count(challenge_reasons) > 0
} else := {
	"decision": "redact",
	"reasons": ["sensitive_data"],
	"redact": sort(redact),
	"status": null,
	"headers": {"X-Shield-Decision": "redact"},
} if {
	count(redact) > 0
} else := {
	"decision": "allow",
	"reasons": [],
	"redact": [],
	"status": null,
	"headers": {},
}
