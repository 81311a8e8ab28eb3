"""Locust load tests of the fakes (the 10,000-record ceiling). Built by its own issue."""
