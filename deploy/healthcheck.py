"""The package image's health check: GET a cheap URL of the server this container runs, on the port its settings say.

    python /usr/local/bin/healthcheck.py api        # the REST API's /health
    python /usr/local/bin/healthcheck.py dashboard  # a small static file of Voila's
    python /usr/local/bin/healthcheck.py            # the server the container's command line starts

Host and ports are the `ANIMAL_CHALLENGE_*` settings of the container's environment (the image is configured by
environment only), so a container moved to another port stays healthy, and one whose server does not answer on its
own port is never reported healthy because another container (host networking) answers on the default one.
The check runs every second while a container starts, so it costs little: when the environment names the host and
the port (the image sets the host, docker-compose.yml the ports) it reads them with the standard library (~0.1 s of
CPU); only otherwise does it ask the package's `Settings` for the defaults (~0.5 s, pydantic).
The dashboard is asked for `/voila/static/voila.js`, never for the notebook page: every GET of that page starts a
kernel. Exit status 0 is healthy, 1 unhealthy (with the reason on stderr, which `docker inspect` shows)."""

import os
import sys
import urllib.request
from pathlib import Path

PATHS = {"api": "/health", "dashboard": "/voila/static/voila.js"}  # cheap answers that start nothing
PORTS = {"api": "api_port", "dashboard": "dashboard_port"}  # the setting that holds each server's port
PREFIX = "ANIMAL_CHALLENGE_"  # animal_challenge.config.ENV_PREFIX, spelt out to keep pydantic out of the fast path
ANY_INTERFACE = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}  # where to reach a server bound to all
SERVES = {"api": "api", "up": "api", "dashboard": "dashboard"}  # subcommand -> what to check (`up` serves the API too)


def role_of(cmdline: list[str]) -> str | None:
    "Which server a container's command line runs (`api`, `dashboard`), or None when it runs none."
    names = [Path(w).name for w in cmdline]
    if "animal-challenge" in names[:-1]:  # e.g. tini -- animal-challenge dashboard
        return SERVES.get(names[names.index("animal-challenge") + 1])
    if names[1:3] == ["-m", "voila"]:  # without an init, `animal-challenge dashboard` became Voila (exec)
        return "dashboard"
    return None


def container_cmdline() -> list[str]:
    "The command line of the container's PID 1 (the init passes the server's command line on)."
    return Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")


def address_of(role: str) -> tuple[str, int]:
    "Host and port that the `role` server listens on, with the settings of this process's environment."
    host, port = os.environ.get(f"{PREFIX}HOST"), os.environ.get(f"{PREFIX}{PORTS[role].upper()}", "")
    if host is not None and port.isdigit():
        return host, int(port)
    from animal_challenge.config import Settings  # the defaults, and every spelling pydantic-settings accepts

    settings = Settings()
    return settings.host, getattr(settings, PORTS[role])


def url_of(role: str) -> str:
    "The URL that answers 200 when the `role` server serves."
    host, port = address_of(role)
    host = ANY_INTERFACE.get(host, host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}{PATHS[role]}"


def main(argv: list[str]) -> int:
    "Check the server named in `argv` (default: the container's); 0 when it answers 200."
    role = argv[0] if argv else role_of(container_cmdline())
    if role not in PATHS:
        print(f"healthcheck: no server to check (role {role!r}; expected one of {', '.join(PATHS)})", file=sys.stderr)
        return 1
    try:
        url = url_of(role)
    except ValueError as e:  # a setting the server refuses too
        print(f"healthcheck: {e}", file=sys.stderr)
        return 1
    try:
        with urllib.request.urlopen(url, timeout=4) as answer:
            status = answer.status
    except OSError as e:  # URLError, HTTPError (>= 400), timeouts and refused connections
        print(f"healthcheck: {url}: {e}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
