"""The public API of a flow, derived deterministically and without I/O: field names, JSON Schemas,
the OpenAPI document and examples."""
