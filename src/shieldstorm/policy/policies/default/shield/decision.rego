# Default Shield policy. Entry point: data.shield.decision (bundle entry point "shield/decision").
#
# Precedence: block > challenge > redact > allow. Every knob lives in data.json (data.shield.defaults),
# and each tenant may override any top-level knob under data.shield.tenants.<tenant>.
#
# Written for rego-cpp (regopy): no net.* (network ACLs arrive pre-computed as input.network), no inline
# (?i) regex flags, timestamps with +00:00 instead of Z. Optional input keys are read through `default`
# rules so a missing field never makes the whole decision undefined (undefined is a policy error anyway).
package shield

import rego.v1

default tenant_overrides := {}

tenant_overrides := data.shield.tenants[input.tenant]

# Most tenants have no overrides: their configuration is the defaults as they are, without a merge per request.
cfg := data.shield.defaults if tenant_overrides == {}
else := object.union(data.shield.defaults, tenant_overrides)

default detections := []

detections := input.detections

default direction := "request"

direction := input.direction

default risk := 0

risk := input.risk

default body_size := 0

body_size := input.body_size

default rate := 0

rate := input.rate

default tools := []

tools := input.tools

# ---- block ----------------------------------------------------------------------------------------

block_reasons contains "attack" if {
	input.attack == true
	risk >= cfg.block_risk
}

# Instructions planted in what a tool returned (a fetched page, a file, an e-mail, a search result) are the
# indirect-injection path into an agent. A tool result has no business addressing the model, so injection evidence
# there blocks from medium severity up, not only when the whole text scores as an attack (a user's own turn keeps
# the ordinary thresholds: "Assistant, ..." is normal there).
block_reasons contains "injection_in_tool_result" if {
	cfg.block_injection_in_tool_results
	some d in detections
	d.kind == "injection"
	d.source == "tool_result"
	d.severity in {"medium", "high", "critical"}
}

block_reasons contains "canary_leak" if input.canary_leak == true

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

block_reasons contains "network_denied" if input.network.allowed == false

block_reasons contains "body_too_large" if body_size > cfg.quotas.max_body_bytes

block_reasons contains "rate_exceeded" if {
	cfg.quotas.rate_per_minute > 0
	rate > cfg.quotas.rate_per_minute
}

block_reasons contains "model_not_allowed" if {
	count(cfg.quotas.models) > 0
	input.model != ""
	not input.model in cfg.quotas.models
}

block_reasons contains "tool_not_allowed" if {
	count(cfg.quotas.tools) > 0
	some tool in tools
	not tool in cfg.quotas.tools
}

block_reasons contains "too_many_tools" if count(tools) > cfg.quotas.max_tools

# ---- challenge ------------------------------------------------------------------------------------

challenge_reasons contains "review" if input.verdict == "review"

challenge_reasons contains "review" if {
	risk >= cfg.review_risk
	count(block_reasons) == 0
}

# ---- redact ---------------------------------------------------------------------------------------

# One definition for both fields (rego-cpp spends 15-20 us per rule definition reached on every request). A
# detection without `entity` (or `category`) only skips that key: `d[key]` is undefined for that iteration.
redact contains value if {
	some d in detections
	d.kind in {"pii", "secret"}
	some key in ["entity", "category"]
	value := d[key]
	value in cfg.redact
}

# ---- extra headers -------------------------------------------------------------------------------

# Static headers from data, plus whatever presets add (they contribute more `extra_headers[k] := v` rules).
extra_headers[name] := value if {
	some name, value in cfg.headers
}

# ---- the decision ---------------------------------------------------------------------------------

# rego-cpp 1.5: sort() of a *set* returns elements that no longer compare equal to strings, so sets are
# turned into arrays first (set iteration order is insertion order there, hence the sort).
sorted_list(s) := sort([x | some x in s])

# 413 and 429 are more useful to a client than a bare 403 when they are the only reason.
block_status := 413 if block_reasons == {"body_too_large"}
else := 429 if block_reasons == {"rate_exceeded"}
else := 403

decision := {
	"decision": "block",
	"reasons": sorted_list(block_reasons),
	"redact": [],
	"status": block_status,
	"headers": object.union(extra_headers, {"X-Shield-Decision": "block"}),
} if {
	count(block_reasons) > 0
} else := {
	"decision": "challenge",
	"reasons": sorted_list(challenge_reasons),
	"redact": sorted_list(redact),
	"status": 401,
	"headers": object.union(extra_headers, {"X-Shield-Decision": "challenge", "X-Shield-Challenge": "review"}),
} if {
	count(challenge_reasons) > 0
} else := {
	"decision": "redact",
	"reasons": ["sensitive_data"],
	"redact": sorted_list(redact),
	"status": null,
	"headers": object.union(extra_headers, {"X-Shield-Decision": "redact"}),
} if {
	count(redact) > 0
} else := {
	"decision": "allow",
	"reasons": [],
	"redact": [],
	"status": null,
	"headers": extra_headers,
}
