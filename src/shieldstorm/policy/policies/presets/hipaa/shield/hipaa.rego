# HIPAA preset: protected health information (PHI) is redacted, in both directions.
# Covers the Safe Harbor identifiers the detectors report (names of health entities, record numbers, plan ids,
# NPI/DEA numbers, SSNs, contact data, dates of birth) and the whole `health` category.
# Tenants under a business associate agreement may receive PHI unredacted in responses: set
# `data.shield.tenants.<t>.hipaa_baa = true`.
package shield

import rego.v1

default hipaa_baa := false

hipaa_baa := cfg.hipaa_baa

hipaa_phi contains name if {
	some d in detections
	d.entity in data.shield.hipaa.phi_entities
	name := d.entity
}

hipaa_phi contains "health" if {
	some d in detections
	d.category == "health"
}

redact contains name if {
	some name in hipaa_phi
	not hipaa_response_allowed
}

hipaa_response_allowed if {
	direction == "response"
	hipaa_baa == true
}

extra_headers["X-Shield-Compliance-HIPAA"] := "phi-redacted" if count(hipaa_phi) > 0
