package shield

import rego.v1

test_pci_card_in_response_blocked if {
	d := decision with input as {"direction": "response", "detections": [{"kind": "pii", "category": "financial", "entity": "CREDIT_CARD", "pattern_id": "cc", "severity": "high"}]}
	d.decision == "block"
	"pci_card_data_egress" in d.reasons
}

test_pci_card_in_request_redacted if {
	d := decision with input as {"direction": "request", "detections": [{"kind": "pii", "category": "other", "entity": "PAN", "pattern_id": "cc", "severity": "high"}]}
	d.decision == "redact"
	d.redact == ["PAN"]
}

test_pci_iban_in_response_not_card_data if {
	d := decision with input as {"direction": "response", "detections": [{"kind": "pii", "category": "financial", "entity": "IBAN", "pattern_id": "iban", "severity": "high"}]}
	d.decision == "redact"
}
