"""The deployment files, validated offline (no Docker engine runs here): compose against the compose-spec schema,
every reference resolved, Dockerfiles linted, and the commands and variables the containers use really exist."""

import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import threading
from configparser import ConfigParser
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from servers import free_port

from animal_challenge.config import Settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "data-service" / "Dockerfile"]
CONFIG = ConfigParser(delimiters=["="])
CONFIG.read(ROOT / "settings.ini")
OURS = {s["image"] for s in SERVICES.values() if "build" in s}  # the images our Dockerfiles build


def check_compose_schema(path: Path) -> subprocess.CompletedProcess:
    "check-jsonschema's verdict on the compose file at `path`."
    cmd = [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_compose_matches_the_compose_spec_schema(tmp_path):
    r = check_compose_schema(ROOT / "docker-compose.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    # The schema knows the health check's keys: a misspelt start_interval would fail, not be silently ignored.
    broken = {**COMPOSE, "services": {**SERVICES, "postgres": {**SERVICES["postgres"]}}}
    broken["services"]["postgres"]["healthcheck"] = {**SERVICES["postgres"]["healthcheck"], "start_intervall": "1s"}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    assert check_compose_schema(tmp_path / "docker-compose.yml").returncode == 1


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
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.M):  # --from copies from a build stage
        *sources, _ = line.split()
        for source in sources:
            assert (dockerfile.parent / source).exists(), f"{dockerfile}: COPY of missing {source}"
    assert re.search(r"^USER (?!root|0\b)", text, flags=re.M), f"{dockerfile} runs as root"
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
    texts += [p.read_text() for p in [*DOCKERFILES, ROOT / "deploy" / "healthcheck.py"]]
    names = set(re.findall(r"\b(ANIMAL_CHALLENGE_\w+|ANIMAL_DATA_SERVICE_\w+)\b", "\n".join(texts)))
    settings = {f"ANIMAL_CHALLENGE_{f.upper()}" for f in Settings.model_fields}
    service_help = subprocess.run([BIN / "animal-data-service", "run", "--help"], capture_output=True, text=True).stdout
    service_help += subprocess.run([BIN / "animal-data-service", "--help"], capture_output=True, text=True).stdout
    for name in sorted(names):
        if name.startswith("ANIMAL_CHALLENGE_"):
            assert name in settings, f"{name} is not a setting (typo?)"
        else:
            assert name in service_help, f"the data service does not document {name}"


# --- Python version: settings.ini, the pins and the images agree -----------------------------------------------------


def base_images(dockerfile: Path) -> set[str]:
    "The images every stage of `dockerfile` starts from (a stage built on an earlier stage names that stage)."
    stages = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", dockerfile.read_text(), flags=re.M)
    names = {alias for _, alias in stages if alias}
    return {image for image, _ in stages if image not in names}


def python_of(image: str) -> Version:
    "The Python release of an official `python:X.Y.Z-slim-...` image."
    match = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim-bookworm", image)
    assert match, f"{image} is not an official python:X.Y.Z-slim-bookworm image pinned to a patch release"
    return Version(match.group(1))


def oldest_python_for(constraints: Path) -> tuple[Version, int]:
    "The oldest 3.11.x that every pin of `constraints` accepts (Requires-Python), and how many pins were checked."
    needs, checked = [], 0
    for name, version in re.findall(r"^([\w.-]+)==(\S+)$", constraints.read_text(), flags=re.M):
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if dist.version != version:  # only the pinned release's metadata says what the pin needs
            continue
        checked += 1
        needs.append(SpecifierSet(dist.metadata.get("Requires-Python") or ""))
    oldest = next(Version(f"3.11.{p}") for p in range(30) if all(Version(f"3.11.{p}") in s for s in needs))
    return oldest, checked


def test_min_python_and_the_base_image_are_what_the_pins_need():
    oldest, checked = oldest_python_for(ROOT / "constraints.txt")
    assert checked > 100  # most of the ~200 pins are installed at their pinned version in the dev environment
    assert oldest == Version("3.11.5")  # soupsieve 4.1.3 needs it
    assert CONFIG["DEFAULT"]["min_python"] == str(oldest)
    (image,) = base_images(ROOT / "Dockerfile")
    assert python_of(image) >= oldest and python_of(image).release[:2] == (3, 11)


def test_the_dev_environment_is_the_pinned_one():
    "make installs with constraints.txt: every distribution installed is pinned there, at the version installed."
    pins = dict(re.findall(r"^([\w.-]+)==(\S+)$", (ROOT / "constraints.txt").read_text(), flags=re.M))
    pins = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pins.items()}
    ours = {"animal-challenge", "animal-data-service", "pip", "setuptools", "wheel"}  # and the installers (not frozen)
    installed = {
        re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in importlib.metadata.distributions()
    }
    assert {k: v for k, v in installed.items() if k not in ours and pins.get(k) != v} == {}


def test_setup_py_derives_python_requires_and_classifiers_from_min_python():
    r = subprocess.run([sys.executable, "setup.py", "--classifiers"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    pythons = [line.rsplit(" ", 1)[-1] for line in r.stdout.splitlines() if "Python ::" in line]
    assert pythons == ["3.11", "3.12", "3.13"]
    code = "import runpy, setuptools; setuptools.setup = lambda **kw: print(kw['python_requires']); "
    code += "runpy.run_path('setup.py')"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.strip() == ">=3.11.5", r.stderr


def test_data_service_requires_what_its_pins_need_and_uses_the_same_base():
    oldest, checked = oldest_python_for(ROOT / "data-service" / "constraints.txt")
    assert checked > 20 and oldest == Version("3.11.0")
    pyproject = (ROOT / "data-service" / "pyproject.toml").read_text()
    assert re.search(r'^requires-python = ">=3\.11"$', pyproject, flags=re.M)
    assert base_images(ROOT / "data-service" / "Dockerfile") == base_images(ROOT / "Dockerfile")


# --- The runtime image: no dev tools --------------------------------------------------------------------------------

DEV_TOOLS = {"nbdev", "execnb", "ghapi", "jupyterlab"}  # writing the book, not serving it


def requirement_names(key: str) -> set[str]:
    "Distribution names in a settings.ini requirements list."
    return {re.split(r"[<>=!\[ ]", r, maxsplit=1)[0].lower() for r in shlex.split(CONFIG["DEFAULT"][key])}


def test_dev_tools_are_dev_requirements_only():
    assert requirement_names("requirements") & DEV_TOOLS == set()
    assert requirement_names("dev_requirements") >= DEV_TOOLS
    assert "ipykernel" in requirement_names("requirements")  # Voila runs the dashboard in it


def test_the_servers_and_the_dashboard_kernel_start_without_the_dev_tools():
    "Import what `animal-challenge api` and `dashboard` (and the kernel Voila starts) import, with the dev tools gone."
    code = f"""
import importlib.abc, sys
class NoDevTools(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {sorted(DEV_TOOLS)!r}:
            raise ImportError(f"{{name}} is a dev tool")
sys.meta_path.insert(0, NoDevTools())
import animal_challenge.cli, animal_challenge.api, animal_challenge.dashboard, animal_challenge.dashboard_server
import voila.app, ipykernel.kernelapp
from animal_challenge.config import Settings
from jupyter_client.kernelspec import KernelSpecManager
command = animal_challenge.dashboard_server.voila_command(Settings())
exec(command[2].split(";")[0])  # the import of the code Voila's process runs (it would then serve)
print(command[1], sorted(KernelSpecManager().find_kernel_specs()))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["-c", "['python3']"]


# --- Init, health checks and start-up -------------------------------------------------------------------------------


def instruction(dockerfile: Path, name: str) -> list[str]:
    "The exec form of the last `name` instruction (ENTRYPOINT, CMD) of `dockerfile`: the one its image keeps."
    text = dockerfile.read_text().replace("\\\n", " ")
    return json.loads(re.findall(rf"^{name} (\[.+\])$", text, flags=re.M)[-1])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_images_run_tini_as_pid_1(dockerfile):
    assert instruction(dockerfile, "ENTRYPOINT") == ["/usr/bin/tini", "--"]
    final_stage = dockerfile.read_text().split("\nFROM ")[-1]
    assert "COPY --from=build /usr/bin/tini /usr/bin/tini" in final_stage


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_exactly_one_init(name):
    service = SERVICES[name]
    if service["image"] in OURS:  # tini is the image's ENTRYPOINT; `init: true` would put a second init above it
        assert "init" not in service
    else:
        assert service.get("init") is True


@pytest.mark.parametrize("name", SERVICES)
def test_health_checks_run_every_second_while_a_service_starts(name):
    check = SERVICES[name]["healthcheck"]
    assert check["start_interval"] == "1s"
    assert check["interval"] == "30s" and check["retries"] == 3
    assert "start_period" in check  # start_interval applies during the start period only


def test_dashboard_never_gets_the_api_token():
    dashboard, api = SERVICES["dashboard"], SERVICES["api"]
    assert "env_file" not in dashboard  # .env holds ANIMAL_CHALLENGE_API_TOKEN
    assert not [k for k in dashboard["environment"] if "TOKEN" in k]
    assert "TOKEN" not in json.dumps(dashboard)
    assert api["env_file"] == [{"path": ".env", "required": False}]
    assert "ANIMAL_CHALLENGE_API_TOKEN=" in (ROOT / ".env.example").read_text()


def test_postgres_service_holds_the_history_and_the_api_waits_for_it():
    postgres, api = SERVICES["postgres"], SERVICES["api"]
    assert postgres["image"].startswith("postgres:15")
    assert postgres["volumes"] == ["postgres-data:/var/lib/postgresql/data"] and "postgres-data" in COMPOSE["volumes"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "--host=127.0.0.1" in postgres["healthcheck"]["test"]  # not the init phase's Unix-socket-only server
    env = postgres["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == ("animal", "animal")
    password = env["POSTGRES_PASSWORD"]
    assert password == "${POSTGRES_PASSWORD:-animal}"
    url = f"postgresql://animal:{password}@postgres:5432/animal"
    assert api["environment"]["ANIMAL_CHALLENGE_DB"] == url
    assert api["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert "ports" not in postgres  # only the API talks to it
    assert "POSTGRES_PASSWORD=" in (ROOT / ".env.example").read_text()


def load_healthcheck_script():
    "deploy/healthcheck.py as a module."
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy" / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HEALTHCHECK = load_healthcheck_script()


def test_healthcheck_script_is_the_one_the_image_runs():
    assert "COPY deploy/healthcheck.py /usr/local/bin/healthcheck.py" in (ROOT / "Dockerfile").read_text()
    assert instruction(ROOT / "Dockerfile", "CMD") == ["animal-challenge", "api", "--train-if-empty"]
    healthcheck = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    assert re.search(r'^HEALTHCHECK .* CMD \["python", "/usr/local/bin/healthcheck.py"\]$', healthcheck, flags=re.M)


@pytest.mark.parametrize(
    "cmdline, role",
    [
        (["/usr/bin/tini", "--", "animal-challenge", "api", "--train-if-empty"], "api"),  # the image's default
        (["/usr/bin/tini", "--", "animal-challenge", "dashboard"], "dashboard"),
        (["/sbin/docker-init", "--", "/opt/venv/bin/animal-challenge", "dashboard", "--port", "9000"], "dashboard"),
        (["/opt/venv/bin/python", "-m", "voila", "dashboard.ipynb", "--no-browser"], "dashboard"),  # exec'd, no init
        (["/usr/bin/tini", "--", "animal-challenge", "up"], "api"),
        (["/usr/bin/tini", "--", "animal-challenge", "train"], None),  # no server: unhealthy, said so
        (["/usr/bin/tini", "--", "sh"], None),
    ],
)
def test_image_health_check_checks_the_server_the_container_runs(cmdline, role):
    assert HEALTHCHECK.role_of(cmdline) == role


@pytest.mark.parametrize("name", ["api", "dashboard"])
def test_compose_names_the_server_its_image_runs(name):
    service = SERVICES[name]
    role = service["healthcheck"]["test"][-1]
    assert service["healthcheck"]["test"] == ["CMD", "python", "/usr/local/bin/healthcheck.py", role]
    assert HEALTHCHECK.role_of(["/usr/bin/tini", "--", *service["command"]]) == role == name


@contextmanager
def answering(port: int, path: str):
    "A stand-in server on 127.0.0.1:`port` that answers 200 on `path` only; yields the list of paths asked for."
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            self.send_response(200 if self.path == path else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield asked
    finally:
        server.shutdown()
        server.server_close()


def compose_healthcheck(name: str, port: int) -> tuple[list[str], dict[str, str]]:
    "The compose health check of `name` as a local command, and its environment with the port moved to `port`."
    test = SERVICES[name]["healthcheck"]["test"][1:]
    assert test[:2] == ["python", "/usr/local/bin/healthcheck.py"]
    env = {k: str(v) for k, v in SERVICES[name]["environment"].items()}
    (port_var,) = [k for k in env if k.endswith("_PORT")]
    env[port_var] = str(port)
    return [sys.executable, str(ROOT / "deploy" / "healthcheck.py"), *test[2:]], env


@pytest.mark.parametrize("name, path", [("api", "/health"), ("dashboard", "/voila/static/voila.js")])
def test_health_checks_follow_the_port_the_environment_sets(name, path):
    port, other = free_port(), free_port()
    cmd, env = compose_healthcheck(name, port)
    with answering(port, path) as asked:
        assert subprocess.run(cmd, env=env, timeout=30).returncode == 0
    assert asked == [path]  # one cheap GET: never the dashboard's page, which would start a kernel
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=30).returncode == 1  # nothing answers
    with answering(other, path):  # another server on another port (host networking) does not make this one healthy
        assert subprocess.run(cmd, env=env, capture_output=True, timeout=30).returncode == 1


def test_health_check_reads_the_settings_the_package_defines():
    from animal_challenge.config import ENV_PREFIX, Settings

    assert HEALTHCHECK.PREFIX == ENV_PREFIX  # spelt out in the script so that its fast path needs no pydantic
    assert set(HEALTHCHECK.PORTS.values()) <= set(Settings.model_fields)


def test_health_check_asks_settings_when_the_environment_leaves_the_port_out(monkeypatch):
    port = free_port()
    cmd, env = compose_healthcheck("dashboard", port)
    del env["ANIMAL_CHALLENGE_DASHBOARD_PORT"]
    env["animal_challenge_dashboard_port"] = str(port)  # pydantic-settings matches names case-insensitively
    with answering(port, "/voila/static/voila.js") as asked:
        assert subprocess.run(cmd, env=env, timeout=30).returncode == 0
    assert asked == ["/voila/static/voila.js"]
    for name in [n for n in os.environ if n.upper().startswith("ANIMAL_CHALLENGE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ANIMAL_CHALLENGE_HOST", "0.0.0.0")  # the image's; no port: the package's defaults
    assert HEALTHCHECK.url_of("api") == "http://127.0.0.1:8000/health"
    assert HEALTHCHECK.url_of("dashboard") == "http://127.0.0.1:8866/voila/static/voila.js"


def test_health_check_paths_are_served_by_the_real_servers(monkeypatch, tmp_path):
    from voila.paths import collect_static_paths

    from animal_challenge.api import create_app
    from animal_challenge.config import Settings
    from animal_challenge.dashboard_server import TEMPLATE, template_root

    assert HEALTHCHECK.PATHS == {"api": "/health", "dashboard": "/voila/static/voila.js"}
    assert "/health" in {route.path for route in create_app(Settings(data_dir=tmp_path)).routes}
    monkeypatch.setenv("JUPYTER_PATH", str(template_root()))  # as the dashboard runs Voila
    static = collect_static_paths(["voila", "nbconvert"], TEMPLATE)  # what Voila serves at /voila/static/
    assert [p for p in static if (Path(p) / "voila.js").is_file()]


def test_a_proxy_ca_reaches_pip_as_a_build_secret_only():
    text = (ROOT / "Dockerfile").read_text()
    install = [line for line in text.replace("\\\n", " ").splitlines() if "pip --python" in line]
    assert len(install) == 1 and install[0].startswith("RUN --mount=type=secret,id=ca ")
    assert "export PIP_CERT=/tmp/ca.pem" in install[0] and "rm -f /tmp/ca.pem" in install[0]
    assert "ca.pem" not in text.split("\nFROM ")[-1]  # nothing of it in the image's stage
    assert "--secret id=ca,src=" in text.split("\nFROM ")[0]  # the header says how to pass it
