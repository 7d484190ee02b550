# PCI-DSS preset: card data never leaves.
# - Any response carrying cardholder data (PAN, track data, CVV, expiry) is blocked (PCI DSS req. 3.4/4.2:
#   PAN must not be sent in clear over end-user channels).
# - In requests, cardholder data is redacted before it reaches a model or an upstream.
# Layered on the default policy: `PolicyEngine.default(presets=["pci_dss"])`.
package shield

import rego.v1

pci_card_data contains d.entity if {
	some d in detections
	d.entity in data.shield.pci_dss.card_entities
}

block_reasons contains "pci_card_data_egress" if {
	direction == "response"
	count(pci_card_data) > 0
}

redact contains entity if {
	direction == "request"
	some entity in pci_card_data
}

extra_headers["X-Shield-Compliance-PCI"] := "card-data-egress-blocked"
