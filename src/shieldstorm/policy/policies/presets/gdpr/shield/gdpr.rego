# GDPR preset: personal-data minimisation and region tags.
# - Minimisation (Art. 5(1)(c)): every personal-data category is redacted before it leaves for a model.
# - Transfers (Chapter V): a request carrying personal data to a model hosted outside the tenant's allowed
#   regions is blocked. Model regions and allowed regions live in data (`data.shield.gdpr`, per tenant
#   `gdpr_regions`).
# - Region tag: every decision carries `X-Data-Region` with the tenant's region.
package shield

import rego.v1

gdpr_personal contains d.category if {
	some d in detections
	d.kind == "pii"
	d.category in data.shield.gdpr.personal_categories
}

redact contains category if {
	some category in gdpr_personal
}

default gdpr_allowed_regions := []

gdpr_allowed_regions := cfg.gdpr_regions

gdpr_allowed_regions := data.shield.gdpr.default_regions if not cfg.gdpr_regions

default model_region := "unknown"

model_region := data.shield.gdpr.model_regions[input.model]

block_reasons contains "gdpr_transfer_outside_region" if {
	count(gdpr_personal) > 0
	direction == "request"
	not model_region in gdpr_allowed_regions
}

default tenant_region := "unspecified"

tenant_region := cfg.region

extra_headers["X-Data-Region"] := tenant_region
