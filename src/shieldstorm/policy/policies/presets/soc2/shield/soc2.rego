# SOC 2 preset: everything is audited.
# - Every decision carries `X-Shield-Audit: required`; the Shield writes an audit event for each request whose
#   decision carries it (allow included), so the trail covers all access, not only blocks (CC7.2).
# - Requests without an authenticated principal are challenged (CC6.1 logical access).
package shield

import rego.v1

extra_headers["X-Shield-Audit"] := "required"

extra_headers["X-Shield-Audit-Class"] := "soc2"

challenge_reasons contains "unauthenticated" if {
	data.shield.soc2.require_principal
	not soc2_has_principal
}

soc2_has_principal if {
	is_string(input.principal)
	input.principal != ""
}
