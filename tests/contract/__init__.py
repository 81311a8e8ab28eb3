"""Contract tests: the fakes' JSON responses checked against Zoho's own OpenAPI specs."""
