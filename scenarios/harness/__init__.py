"""The scenario harness: ``Lab`` (the stack a scenario drives), ``scenario`` (the format),
``expect`` (expectations that report what was expected and seen), the runner and reports."""

from .clients import LabApiError, Tenant, ZohoApi
from .lab import Lab
from .model import REGISTRY, Result, ScenarioDef, ScenarioFailure, expect, scenario

__all__ = ["Lab", "LabApiError", "REGISTRY", "Result", "ScenarioDef", "ScenarioFailure", "Tenant", "ZohoApi",
           "expect", "scenario"]
