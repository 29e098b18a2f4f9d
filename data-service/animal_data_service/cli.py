"""Command line: `animal-data-service run [--host HOST] [--port PORT] [--max-points N]`.

Every option can also be set with an environment variable (the command line wins):

| option         | variable                          | default     |
|----------------|-----------------------------------|-------------|
| `--host`       | `ANIMAL_DATA_SERVICE_HOST`        | `127.0.0.1` |
| `--port`       | `ANIMAL_DATA_SERVICE_PORT`        | `8777`      |
| `--max-points` | `ANIMAL_DATA_SERVICE_MAX_POINTS`  | `1000000`   |
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Callable, Sequence

from animal_data_service import DEFAULT_MAX_POINTS, __version__

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ENV_PREFIX", "build_parser", "main"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8777
ENV_PREFIX = "ANIMAL_DATA_SERVICE_"


def _port(text: str) -> int:
    "argparse type: a TCP port number."
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (an integer from 1 to 65535)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (an integer from 1 to 65535)")
    return value


def _positive_int(text: str) -> int:
    "argparse type: an integer >= 1 (underscores allowed, as in 1_000_000)."
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def _host(text: str) -> str:
    "argparse type: a non-empty host name or address."
    if not text.strip():
        raise argparse.ArgumentTypeError("the host must not be empty (e.g. 127.0.0.1, or 0.0.0.0 for all interfaces)")
    return text.strip()


def _default_from_env(parser: argparse.ArgumentParser, name: str, convert: Callable[[str], object], default: object):
    "The default of an option: its environment variable if set (checked like the option), else `default`."
    variable = ENV_PREFIX + name
    raw = os.environ.get(variable)
    if raw is None:
        return default
    try:
        return convert(raw)
    except argparse.ArgumentTypeError as error:
        parser.error(f"environment variable {variable}: {error}")


def build_parser() -> argparse.ArgumentParser:
    "The argument parser (environment variables are read when it is built)."
    parser = argparse.ArgumentParser(
        prog="animal-data-service",
        description="Serve unlabeled animal data points, like the animal challenge's public data service.",
        epilog="Options can also be set with the environment variables ANIMAL_DATA_SERVICE_HOST, "
        "ANIMAL_DATA_SERVICE_PORT and ANIMAL_DATA_SERVICE_MAX_POINTS; the command line wins.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the HTTP service", description="Run the HTTP service (uvicorn).")
    run.add_argument(
        "--host",
        type=_host,
        default=_default_from_env(parser, "HOST", _host, DEFAULT_HOST),
        help=f"address to listen on (env {ENV_PREFIX}HOST; default {DEFAULT_HOST}; 0.0.0.0 for all interfaces)",
    )
    run.add_argument(
        "--port",
        type=_port,
        default=_default_from_env(parser, "PORT", _port, DEFAULT_PORT),
        help=f"TCP port (env {ENV_PREFIX}PORT; default {DEFAULT_PORT})",
    )
    run.add_argument(
        "--max-points",
        type=_positive_int,
        default=_default_from_env(parser, "MAX_POINTS", _positive_int, DEFAULT_MAX_POINTS),
        help=f"largest number_of_datapoints per request (env {ENV_PREFIX}MAX_POINTS; default {DEFAULT_MAX_POINTS})",
    )
    return parser


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or exit with a clear message (port in use, unknown host...).

    Binding here, before handing the socket to uvicorn, lets us report the problem in one line and exit non-zero,
    without a traceback.
    """
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        sys.exit(f"animal-data-service: cannot resolve host {host!r}: {error.strerror}")
    sock = socket.socket(family, kind, protocol)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: allow quick restarts
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        hint = " (is another server running? choose another --port)" if error.errno in (98, 48, 10048) else ""
        sys.exit(f"animal-data-service: cannot listen on {host}:{port}: {error.strerror}{hint}")
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _run(host: str, port: int, max_points: int) -> None:
    # Imported here so that `--help` and argument errors answer at once, without loading numpy and Litestar.
    import uvicorn

    from animal_data_service.app import create_app

    sock = _bind(host, port)
    config = uvicorn.Config(create_app(max_points=max_points), host=host, port=port, log_level="info")
    server = uvicorn.Server(config)
    # uvicorn does not announce the address when it is handed a socket: say it ourselves.
    shown = f"[{host}]" if ":" in host else host
    print(
        f"animal-data-service {__version__}: http://{shown}:{port} (docs at /docs; at most {max_points} points "
        "per request; Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    server.run(sockets=[sock])


def main(argv: Sequence[str] | None = None) -> None:
    "Entry point of the `animal-data-service` console script."
    args = build_parser().parse_args(argv)
    if args.command == "run":
        _run(args.host, args.port, args.max_points)
