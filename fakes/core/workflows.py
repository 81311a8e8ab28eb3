"""Workflow rules of record-style orgs (CRM, FSM): what makes "sync writes must not trigger
workflows" (TW-12) observable.

A rule watches one module for create and/or edit, optionally only when a field has a value, and
then updates a field or calls a webhook. Ordinary API writes run the org's rules; a write that
asks for no triggers (CRM ``"trigger": []``, FSM likewise) does not, and neither does a data import.
Every run is logged (``lab_workflow_run``) so scenarios can count them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel, select

from .db import datetime_column, json_column
from .fields import FieldError, coerce

if TYPE_CHECKING:
    from .records import Record, RecordStore

EVENTS = ("create", "edit", "create_or_edit")
ACTIONS = ("field_update", "webhook")


class WorkflowRule(SQLModel, table=True):
    __tablename__ = "lab_workflow_rule"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    product: str
    org_id: str = Field(index=True)
    module: str
    name: str = ""
    event: str = "create_or_edit"
    condition: dict = json_column()  # {"field": api_name, "equals": value} or {}
    action: dict = json_column()  # {"type": "field_update", "field", "value"} | {"type": "webhook", "url"}
    active: bool = True
    created_time: datetime | None = datetime_column()


class WorkflowRun(SQLModel, table=True):
    __tablename__ = "lab_workflow_run"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    rule_id: str = Field(index=True)
    org_id: str = Field(index=True)
    module: str
    record_id: str = Field(index=True)
    operation: str
    time: datetime | None = datetime_column()


def validate_rule(body: dict[str, Any], modules: dict) -> str | None:
    """None when the rule is well formed, else the reason."""
    if body.get("module") not in modules:
        return f"module must be one of {', '.join(sorted(modules))}"
    if body.get("event", "create_or_edit") not in EVENTS:
        return f"event must be one of {', '.join(EVENTS)}"
    action = body.get("action")
    if not isinstance(action, dict) or action.get("type") not in ACTIONS:
        return f"action.type must be one of {', '.join(ACTIONS)}"
    fields = modules[body["module"]].fields
    if action["type"] == "field_update":
        fdef = fields.get(action.get("field"))
        if fdef is None or fdef.system:
            return "action.field must be a writable field of the module"
        try:
            coerce(fdef, action.get("value"))
        except FieldError as exc:
            return f"action.value does not fit {fdef.api_name}: {exc}"
    elif not isinstance(action.get("url"), str) or not action["url"].startswith(("http://", "https://")):
        return "action.url must be an http(s) URL"
    cond = body.get("condition") or {}
    if cond and (not isinstance(cond, dict) or cond.get("field") not in fields or "equals" not in cond):
        return "condition must be {\"field\": <api name>, \"equals\": <value>}"
    return None


def run_rules(store: RecordStore, rec: Record, operation: str, changed: dict[str, Any]) -> dict[str, Any]:
    """Run the org's rules for this write; returns the field values the rules changed."""
    rules = store.s.exec(select(WorkflowRule).where(
        WorkflowRule.org_id == store.org.id, WorkflowRule.module == rec.module,
        WorkflowRule.active == True)).all()  # noqa: E712
    if not rules:
        return {}
    event = "create" if operation == "insert" else "edit"
    updates: dict[str, Any] = {}
    doc = dict(rec.doc or {})
    mdef = store.modules[rec.module]
    for rule in rules:
        if rule.event not in (event, "create_or_edit"):
            continue
        cond = rule.condition or {}
        if cond and doc.get(cond["field"]) != cond["equals"]:
            continue
        action = rule.action
        if action["type"] == "field_update":
            fdef = mdef.fields[action["field"]]
            value = coerce(fdef, action.get("value"))
            doc[fdef.api_name] = value
            updates[fdef.api_name] = value
        else:
            store.lab.notifier.send(action["url"], {
                "rule_id": rule.id, "rule": rule.name, "module": rec.module, "id": rec.id,
                "operation": operation, "record": {k: v for k, v in doc.items()},
            }, kind="workflow.webhook", org_id=store.org.id)
        store.s.add(WorkflowRun(id=store.lab.ids.record_id(store.s, store.family, store.org.id), rule_id=rule.id,
                                org_id=store.org.id, module=rec.module, record_id=rec.id, operation=operation,
                                time=store.lab.now()))
    if updates:
        if mdef.derive:
            mdef.derive(doc)
        rec.doc = doc
        store.s.add(rec)
    return updates
