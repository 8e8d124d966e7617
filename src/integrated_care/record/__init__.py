"""The shared care record: a FHIR R4 server on the operational store (see docs/record.md)."""
