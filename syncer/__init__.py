"""The sync engine: FSM <-> Books/Invoice two-way sync and FSM <-> CRM direct sync.

It talks to Zoho (or the fakes) over HTTP only and never imports ``fakes`` (enforced by
tests/test_architecture.py). Built by its own issue; this package is empty until then.
"""
