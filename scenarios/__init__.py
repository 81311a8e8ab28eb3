"""Scenario harness, catalog and runner (the QA product). Built by its own issue."""
