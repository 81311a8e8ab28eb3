"""docker-compose.yml: loaded strictly (a key given twice is an error), valid against the Compose
Specification's JSON schema (the copy check-jsonschema vendors), its commands use flags the CLIs
really have, ports on 127.0.0.1 unless ZLAB_BIND says otherwise, pinned images, a healthcheck for
every service, the lab token required, and the README's Docker section naming what it sets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

from tests.test_loadtests import StrictLoader
from zlab import cli as zcli

ROOT = Path(__file__).resolve().parents[1]
VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def raw() -> dict[str, Any]:
    return yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=StrictLoader)  # noqa: S506 - SafeLoader


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: ``${X}``, ``${X:-default}``, ``${X-default}``, ``${X:?error}``, ``$$``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        have = env.get(name)
        if op in (":-", ":?") and not have or op in ("-", "?") and have is None:
            if op.endswith("?"):
                raise KeyError(f"{name}: {arg}")
            return arg if op.endswith("-") else ""
        return have or ""

    return VARIABLE.sub(one, value)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    return interpolate(raw(), {"ZLAB_LAB_TOKEN": "t0ken"} if env is None else env)


def compose_schema() -> dict[str, Any]:
    return json.loads((files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json").read_text())


def test_the_strict_loader_is_used_for_the_file():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("services:\n  a: {image: x}\n  a: {image: y}\n", Loader=StrictLoader)  # noqa: S506
    assert set(raw()["services"]) == {"postgres", "fakes", "syncer", "mailpit", "locust-master", "locust-worker"}


def test_the_file_is_valid_against_the_compose_specification():
    schema = compose_schema()
    assert "services" in schema["properties"]
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for doc in (raw(), compose()):
        errors = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
        assert errors == []
    # the schema does catch mistakes: a misspelt key and a wrongly typed value
    broken = compose()
    broken["services"]["fakes"]["helthcheck"] = broken["services"]["fakes"].pop("healthcheck")
    broken["services"]["syncer"]["ports"] = "8710:8710"
    assert len(list(validator.iter_errors(broken))) >= 2


def test_the_lab_token_is_required_and_reaches_every_lab_service():
    with pytest.raises(KeyError, match="ZLAB_LAB_TOKEN"):
        compose({})
    services = compose({"ZLAB_LAB_TOKEN": "s3cret"})["services"]
    for name in ("fakes", "syncer", "locust-master", "locust-worker"):
        assert services[name]["environment"]["ZLAB_LAB_TOKEN"] == "s3cret", name
    # the support token is never a fixed value: the caller's, else the syncer generates one
    assert services["syncer"]["environment"]["ZLAB_SUPPORT_TOKEN"] == ""
    assert compose({"ZLAB_LAB_TOKEN": "t", "ZLAB_SUPPORT_TOKEN": "x"})["services"]["syncer"]["environment"][
        "ZLAB_SUPPORT_TOKEN"] == "x"


def test_the_environment_names_are_ones_the_code_reads():
    source = "\n".join(p.read_text() for d in ("zlab", "fakes", "syncer", "loadtests", "scenarios")
                       for p in (ROOT / d).rglob("*.py"))
    for name, svc in compose()["services"].items():
        for key in (svc.get("environment") or {}):
            if key.startswith("ZLAB_"):
                assert f'"{key}"' in source, f"{name} sets {key}, which no code reads"


def _published(port: str) -> tuple[str, str, str]:
    host_ip, host_port, container = str(port).rsplit(":", 2) if str(port).count(":") == 2 else ("", *str(port).split(":"))
    return host_ip, host_port, container


def test_ports_are_published_on_loopback_unless_zlab_bind_says_so():
    published = {(name, _published(p)) for name, svc in compose()["services"].items() for p in svc.get("ports", [])}
    assert {p[1] for _, p in published} >= {"8700", "8710", "8025", "1025", "5433", "8089"}
    assert all(ip == "127.0.0.1" for _, (ip, _, _) in published), published
    every = compose({"ZLAB_LAB_TOKEN": "t", "ZLAB_BIND": "0.0.0.0"})["services"]
    assert {_published(p)[0] for svc in every.values() for p in svc.get("ports", [])} == {"0.0.0.0"}


def test_images_are_pinned():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, svc in compose()["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, (name, image)
        if "build" in svc:
            assert image == f"zoho-sync-lab:{version}", (name, image)  # the package's own version
        else:
            assert re.search(r"\d+\.\d+", tag), (name, image)  # a release, not a moving major tag


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies():
    services = compose()["services"]
    for name, svc in services.items():
        test = (svc.get("healthcheck") or {}).get("test")
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services and cond["condition"] == "service_healthy", (name, dep)
    for name in ("fakes", "syncer"):  # python -c checks: they must at least compile
        code = services[name]["healthcheck"]["test"][-1]
        compile(code, f"{name} healthcheck", "exec")


def _zlab_command(args: list[str]) -> click.Context:
    """Parse ``zlab <sub> ...`` with the real click commands (unknown flags and bad values raise)."""
    assert args[0] == "zlab"
    command: click.Command = zcli.cli
    rest, name = list(args[1:]), "zlab"
    while isinstance(command, click.Group):
        name, rest = rest[0], rest[1:]
        sub = command.get_command(click.Context(command), name)
        assert sub is not None, f"zlab has no command {name!r}"
        command = sub
    return command.make_context(name, rest)


def test_zlab_commands_use_the_cli_s_real_flags():
    services = compose()["services"]
    fakes = _zlab_command(services["fakes"]["command"]).params
    assert fakes["port"] == 8700 and fakes["workers"] == 4 and fakes["host"] == "0.0.0.0"
    assert fakes["db_url"].startswith("postgresql+psycopg://") and "@postgres:5432/" in fakes["db_url"]
    syncer = _zlab_command(services["syncer"]["command"]).params
    assert syncer["port"] == 8710 and syncer["fakes_url"] == "http://fakes:8700"
    assert syncer["smtp_url"] == "smtp://mailpit:1025"
    with pytest.raises(click.UsageError):  # the check itself: a flag zlab does not have
        _zlab_command(["zlab", "serve", "--wrokers", "4"])


@pytest.mark.skipif(shutil.which("locust", path=str(Path(sys.executable).parent)) is None,
                    reason="locust is not installed (the dev extra)")
def test_locust_commands_use_flags_locust_has():
    help_text = subprocess.run([str(Path(sys.executable).parent / "locust"), "--help"], capture_output=True,
                               text=True, timeout=120).stdout
    known = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text))
    assert {"--master", "--worker", "--master-host", "-f"} <= known
    for name in ("locust-master", "locust-worker"):
        cmd = compose()["services"][name]["command"]
        assert cmd[0] == "locust"
        flags = [a for a in cmd[1:] if a.startswith("-")]
        assert flags and set(flags) <= known, (name, set(flags) - known)


def test_the_readme_docker_section_is_current():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Docker", 1)[1].split("\n## ", 1)[0]
    for name in raw()["services"]:
        assert f"`{name}`" in section, name
    for variable in set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text())):
        assert variable in section, variable
    assert "coming" not in section.lower()
    for url in ("http://127.0.0.1:8700", "http://127.0.0.1:8710", "http://127.0.0.1:8025"):
        assert url in section
