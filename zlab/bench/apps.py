"""The apps ``zlab bench fakes`` serves beside the fakes, each under the same gunicorn settings.

- ``hello``: a bare Flask hello, the ceiling of Flask + gunicorn on the machine;
- ``sqlmodel``: a one-query SQLModel GET (and a one-row insert), the floor any DB-backed fake pays;
- ``stateless``: a stateless Flask mock of one CRM record (a Prism-like peer: no state, no auth
  beyond the header being there) — the floor of a "peer" mock;
- ``moto``: moto's own server (S3 GET/PUT object), the peer a Python team knows, when installed.

Run as ``python -m zlab.bench.apps KIND --port P --workers W --threads T [--db URL]``: it serves
through ``zlab.server.run_gunicorn``, exactly as ``zlab serve`` serves the fakes.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from flask import Flask, request

CRM_RECORD = {
    "Owner": {"name": "Lisa Greene", "id": "885277330", "email": "lisa@example.com"},
    "Email": "jane@example.com", "First_Name": "Jane", "Last_Name": "Bench", "Full_Name": "Jane Bench",
    "Phone": "+1 555 0100", "Mailing_City": "Springfield", "Description": None,
    "Created_By": {"name": "Lisa Greene", "id": "885277330"}, "Modified_By": {"name": "Lisa Greene", "id": "885277330"},
    "Created_Time": "2026-01-05T10:00:00+00:00", "Modified_Time": "2026-01-05T10:00:00+00:00",
    "id": "9879299000000100006",
}


def hello() -> Flask:
    app = Flask("zlab_bench_hello")

    @app.get("/hello")
    def say_hello():
        return {"hello": "world"}

    @app.post("/hello")
    def post_hello():
        return {"hello": request.get_json(silent=True)}, 201

    return app


def stateless() -> Flask:
    app = Flask("zlab_bench_stateless")
    app.json.sort_keys = False

    @app.get("/crm/v8/Contacts/<record_id>")
    def get_record(record_id: str):
        if not request.headers.get("Authorization"):
            return {"code": "AUTHENTICATION_FAILURE", "status": "error"}, 401
        return {"data": [{**CRM_RECORD, "id": record_id}]}

    @app.post("/crm/v8/Contacts")
    def create_record():
        request.get_json(silent=True)
        return {"data": [{"code": "SUCCESS", "details": {"id": CRM_RECORD["id"]}, "message": "record added",
                          "status": "success"}]}, 201

    return app


_THING: Any = None


def _thing_model() -> Any:
    """The table of the SQLModel floor, defined once per process (and only in its server)."""
    global _THING
    if _THING is None:
        from sqlalchemy import JSON, Column
        from sqlmodel import Field, SQLModel

        class BenchThing(SQLModel, table=True):
            __tablename__ = "bench_thing"
            id: int | None = Field(default=None, primary_key=True)
            name: str = ""
            doc: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))

        _THING = BenchThing
    return _THING


def sqlmodel(db_url: str | None = None) -> Flask:
    from sqlmodel import Session, SQLModel, create_engine

    BenchThing = _thing_model()  # noqa: N806 - a class
    url = db_url or os.environ.get("ZLAB_BENCH_DB") or "sqlite:///.zlab/bench-sqlmodel.db"
    kw: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}} if url.startswith("sqlite") else {}
    engine = create_engine(url, **kw)
    SQLModel.metadata.create_all(engine)
    app = Flask("zlab_bench_sqlmodel")

    @app.get("/things/<int:thing_id>")
    def get_thing(thing_id: int):
        with Session(engine) as s:
            t = s.get(BenchThing, thing_id)
            if t is None:
                return {"error": "not found"}, 404
            return {"thing": {"id": t.id, "name": t.name, "doc": t.doc}}

    @app.post("/things")
    def create_thing():
        body = request.get_json(silent=True) or {}
        with Session(engine) as s:
            t = BenchThing(name=str(body.get("name", "")), doc=body)
            s.add(t)
            s.commit()
            return {"thing": {"id": t.id, "name": t.name}}, 201

    return app


def moto_app() -> Any:
    from moto.server import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)  # no auth header: S3, its default


def moto_available() -> bool:
    try:
        import moto.server  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed, or broken: the bench says so and goes on
        return False
    return True


FACTORIES = {"hello": hello, "stateless": stateless, "sqlmodel": sqlmodel, "moto": moto_app}


def main(argv: list[str] | None = None) -> None:
    from zlab.server import run_gunicorn

    p = argparse.ArgumentParser(prog="python -m zlab.bench.apps")
    p.add_argument("kind", choices=sorted(FACTORIES))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--db")
    a = p.parse_args(argv)
    if a.db:
        os.environ["ZLAB_BENCH_DB"] = a.db
    if a.kind == "sqlmodel":  # create the table before the workers race to
        sqlmodel(a.db).extensions.clear()
    run_gunicorn(FACTORIES[a.kind], host="127.0.0.1", port=a.port, workers=a.workers, threads=a.threads,
                 log_level="warning", proc_name=f"zlab-bench-{a.kind}")


if __name__ == "__main__":
    main()
