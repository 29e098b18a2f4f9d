"""A throwaway PostgreSQL server for tests and benchmarks: Debian's `initdb` and `pg_ctl` on a temp dir and a free port.

`initdb` refuses to run as root, so as root both run as the `postgres` user, on a temp dir it owns. The server listens
on 127.0.0.1 only, keeps its socket in the temp dir, and is started and stopped with `pg_ctl -w`, which returns once
the server accepts connections (or has stopped): no sleeps, no polling here.
"""

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from servers import free_port

INSTALL_HINT = "apt-get install -y postgresql"  # what a machine without PostgreSQL needs
USER = "ac"  # the superuser initdb creates (trust authentication on loopback: a test server only)


def find_bin() -> Path | None:
    "The folder of the newest installed PostgreSQL's `initdb` and `pg_ctl` (Debian keeps them off the PATH)."
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresServer:
    "A PostgreSQL server in its own temp dir on 127.0.0.1:`port`; `start`, `stop` (and start again) at will."

    def __init__(self, bin_dir: Path, settings: dict[str, str] | None = None):
        self.bin_dir, self.port = bin_dir, free_port()
        self.settings = {"listen_addresses": "127.0.0.1", "fsync": "off", **(settings or {})}
        self.as_user = "postgres" if os.geteuid() == 0 else None  # initdb refuses root
        self.dir = Path(tempfile.mkdtemp(prefix="ac-postgres-"))
        if self.as_user:
            pw = pwd.getpwnam(self.as_user)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        try:
            self._run("initdb", "-D", self.dir / "data", "-A", "trust", "-U", USER, "--no-sync", "-E", "UTF8")
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def _as_user(self) -> dict:
        "subprocess arguments that run a command as the server's user (empty when not root)."
        if not self.as_user:
            return {}
        pw = pwd.getpwnam(self.as_user)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _run(self, tool: str, *args) -> None:
        "Run a PostgreSQL tool as the server's user; its output in the error if it fails."
        cmd = [str(self.bin_dir / tool), *map(str, args)]
        r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, **self._as_user())
        if r.returncode != 0:
            log = self.dir / "log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}\n{tail}")

    @property
    def url(self) -> str:
        "The URL of the server's `postgres` database."
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        "The URL of `database` on this server."
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        "Start the server; returns once it accepts connections."
        options = " ".join([f"-p {self.port}", f"-k {self.dir}", *(f"-c {k}={v}" for k, v in self.settings.items())])
        self._run("pg_ctl", "-D", self.dir / "data", "-o", options, "-l", self.dir / "log", "-w", "-t", "120", "start")

    def stop(self) -> None:
        "Stop the server at once (open sessions are ended); returns once it is down."
        self._run("pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "-t", "120", "stop")

    def running(self) -> bool:
        "Whether the server is up (`pg_ctl status`)."
        cmd = [str(self.bin_dir / "pg_ctl"), "-D", str(self.dir / "data"), "status"]
        return subprocess.run(cmd, capture_output=True, **self._as_user()).returncode == 0

    def remove(self) -> None:
        "Stop the server if it runs and delete its folder."
        try:
            if self.running():
                self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def postgres_server(bin_dir: Path, settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    "A started server for the block; stopped and deleted afterwards."
    server = PostgresServer(bin_dir, settings)
    try:
        server.start()
        yield server
    finally:
        server.remove()


def create_database(server_url: str) -> str:
    "A new, empty database on the server at `server_url`; its URL."
    import psycopg

    name = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server_url.rsplit('/', 1)[0]}/{name}"


def drop_database(server_url: str, url: str) -> None:
    "Drop the database at `url` (on the server at `server_url`), ending its sessions first."
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres_bin() -> Path:
    "The folder of PostgreSQL's server tools; the test skips without them, but fails in CI (CI=true)."
    bin_dir = find_bin()
    if bin_dir is None:
        message = f"PostgreSQL is not installed: {INSTALL_HINT}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return bin_dir


@pytest.fixture(scope="session")
def postgres_url(postgres_bin: Path) -> Iterator[str]:
    "A PostgreSQL server of this test session (the URL of its `postgres` database); stopped and deleted at the end."
    with postgres_server(postgres_bin) as server:
        yield server.url
