"""Shared machinery of every fake: storage, clock, ids, the request chain, the control API."""
