"""The deployment files, validated offline (no Docker engine runs here): compose against the compose-spec schema,
every reference resolved, Dockerfiles linted, and the commands and variables the containers use really exist."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from animal_challenge.config import Settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "data-service" / "Dockerfile"]


def test_compose_matches_the_compose_spec_schema():
    cmd = [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", ROOT / "docker-compose.yml"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_every_reference_in_compose_resolves():
    volumes = set(COMPOSE.get("volumes", {}))
    built = {s["image"] for s in SERVICES.values() if "build" in s and "image" in s}
    for name, service in SERVICES.items():
        for target in service.get("depends_on", {}):
            assert target in SERVICES, f"{name} depends on unknown service {target}"
            condition = service["depends_on"][target]["condition"]
            if condition == "service_healthy":
                has_check = "healthcheck" in SERVICES[target] or "build" in SERVICES[target]
                assert has_check, f"{name} waits for {target} to be healthy, but {target} has no health check"
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            assert source in volumes or source.startswith((".", "/")), f"{name} mounts undeclared volume {source}"
        if "build" in service:
            context = ROOT / service["build"]
            assert (context / "Dockerfile").is_file(), f"{name} builds {context} which has no Dockerfile"
        else:
            image = service["image"]
            assert image in built or not image.endswith(":local"), f"{name} uses {image} that nothing builds"
    assert (ROOT / ".env.example").is_file()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfiles_pass_hadolint(dockerfile):
    r = subprocess.run([BIN / "hadolint", dockerfile], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfiles_copy_only_files_that_exist_and_run_as_non_root(dockerfile):
    text = dockerfile.read_text()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *sources, _ = line.split()
        for source in sources:
            assert (dockerfile.parent / source).exists(), f"{dockerfile}: COPY of missing {source}"
    assert re.search(r"^USER (?!root|0\b)", text, flags=re.M), f"{dockerfile} runs as root"
    assert re.search(r"^FROM python:3\.11[\w.-]*-slim", text, flags=re.M)
    assert "HEALTHCHECK" in text


def container_commands() -> list[list[str]]:
    "Every command a container runs: the compose `command`s and the Dockerfiles' CMDs."
    commands = [s["command"] for s in SERVICES.values() if "command" in s and s.get("image", "").endswith(":local")]
    for dockerfile in DOCKERFILES:
        commands += [json.loads(m) for m in re.findall(r"^CMD (\[.+\])$", dockerfile.read_text(), flags=re.M)]
    return commands


@pytest.mark.parametrize("command", container_commands(), ids=" ".join)
def test_container_commands_exist_and_accept_their_flags(command):
    program, subcommand, *args = command
    r = subprocess.run([BIN / program, subcommand, "--help"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for flag in (a for a in args if a.startswith("--")):
        assert flag in r.stdout, f"{' '.join(command)}: {program} {subcommand} has no {flag}"


def test_every_variable_the_containers_set_is_read_by_the_programs():
    texts = [(ROOT / "docker-compose.yml").read_text(), (ROOT / ".env.example").read_text()]
    texts += [p.read_text() for p in DOCKERFILES]
    names = set(re.findall(r"\b(ANIMAL_CHALLENGE_\w+|ANIMAL_DATA_SERVICE_\w+)\b", "\n".join(texts)))
    settings = {f"ANIMAL_CHALLENGE_{f.upper()}" for f in Settings.model_fields}
    service_help = subprocess.run([BIN / "animal-data-service", "run", "--help"], capture_output=True, text=True).stdout
    service_help += subprocess.run([BIN / "animal-data-service", "--help"], capture_output=True, text=True).stdout
    for name in sorted(names):
        if name.startswith("ANIMAL_CHALLENGE_"):
            assert name in settings, f"{name} is not a setting (typo?)"
        else:
            assert name in service_help, f"the data service does not document {name}"
