"""The container recipe, checked without a Docker engine: hadolint on the Dockerfile, docker-compose.yml
against the Compose Specification's schema (vendored, `tests/vendor/compose-spec`), `.env.example`
against `Settings`, and the image's own commands (its entrypoint, default command and health check, with
its environment) run as they would run in the container."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from clara_runner.env_example import FILE, env_example
from clara_runner.settings import RENAMED, Settings
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "vendor" / "compose-spec" / "compose.schema.json"
HADOLINT = Path(sys.executable).parent / "hadolint"


def dockerfile_instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined), in order, as (INSTRUCTION, arguments)."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def runtime_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage, the image that runs."""
    instructions = dockerfile_instructions()
    last = max(index for index, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last:]


def image_environment() -> dict[str, str]:
    environment: dict[str, str] = {}
    for name, arguments in runtime_stage():
        if name == "ENV":
            for part in shlex.split(arguments):
                variable, _, value = part.partition("=")
                environment[variable] = value
    return environment


def exec_form(instruction: str) -> list[str]:
    (arguments,) = [arguments for name, arguments in runtime_stage() if name == instruction]
    if instruction == "HEALTHCHECK":
        arguments = arguments.split(" CMD ", 1)[1]
    command: list[str] = json.loads(arguments)
    return command


def test_hadolint_passes() -> None:
    result = subprocess.run([str(HADOLINT), "Dockerfile"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_as_a_non_root_user_from_a_wheel_on_a_slim_base() -> None:
    instructions = runtime_stage()
    assert "slim" in next(arguments for name, arguments in dockerfile_instructions() if name == "ARG")
    (user,) = [arguments for name, arguments in instructions if name == "USER"]
    assert user.split(":")[0] not in ("0", "root")
    assert any(name == "RUN" and ".whl" in arguments for name, arguments in instructions)
    assert exec_form("ENTRYPOINT") + exec_form("CMD") == ["clara-runner", "serve"]


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return document


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(compose())
    ]
    assert errors == []


def test_compose_has_the_seeds_services() -> None:
    services = compose()["services"]
    assert services["runner"]["deploy"]["replicas"] == 2
    assert services["runner"]["command"] == ["serve"]
    assert services["worker"]["command"] == ["worker"]
    postgres = services["postgres"]
    assert "healthcheck" in postgres
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])
    assert services["runner"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "redis" in services
    assert {name: services[name]["profiles"] for name in ("comfyui", "python-backend", "n8n")} == {
        "comfyui": ["comfyui"],
        "python-backend": ["python-backend"],
        "n8n": ["n8n"],
    }
    known = {field.alias for field in Settings.model_fields.values()}
    unknown = set(services["runner"]["environment"]) - known - {"PROMETHEUS_MULTIPROC_DIR"}
    assert unknown == set(), "the runner's environment names settings"


def test_env_example_is_generated_and_lists_every_setting_by_its_name() -> None:
    text = (ROOT / FILE).read_text(encoding="utf-8")
    assert text == env_example(), "run `python -m clara_runner.env_example`"
    listed = [line.split("=", 1)[0] for line in text.splitlines() if line and not line.startswith("#")]
    aliases = [field.alias for field in Settings.model_fields.values()]
    assert sorted(set(listed) - set(RENAMED)) == sorted(listed)
    assert listed == aliases


def run_cli(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clara_runner", *command[1:]],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_images_commands_serve_and_answer_the_health_check(database_url: str, tmp_path: Path) -> None:
    environment = {
        **image_environment(),
        "PORT": str(free_port()),
        "CLARA_DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "warning",
    }
    health = exec_form("HEALTHCHECK")
    assert environment["HOST"] == "0.0.0.0"  # noqa: S104 (the image listens on every interface)
    assert run_cli(health, environment).returncode == 1, "nothing serves yet"
    command = exec_form("ENTRYPOINT") + exec_form("CMD")
    log = tmp_path / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "clara_runner", *command[1:]],
            env={**os.environ, **environment},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(300):
            if run_cli(health, environment).returncode == 0:
                break
            assert server.poll() is None, log.read_text()
            time.sleep(0.1)
        else:
            pytest.fail(f"the served image never became healthy:\n{log.read_text()}")
    finally:
        server.terminate()
        server.wait(timeout=30)
