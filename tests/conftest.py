"""Fixtures shared by the test modules."""

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto.server import ThreadedMotoServer
from postgres import postgres_bin, postgres_url  # noqa: F401  (session fixtures: a real PostgreSQL server)


@dataclass(frozen=True)
class S3Endpoint:
    "Where the test S3 server listens, and keys to give it (moto accepts any unless told to check them)."

    host: str
    port: int
    access_key: str = "test-access-key"
    secret_key: str = "test-secret-key"

    @property
    def endpoint(self) -> str:
        "host:port, as `minio.Minio` and ANIMAL_CHALLENGE_S3_ENDPOINT take it."
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        "The server's base URL."
        return f"http://{self.endpoint}"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[S3Endpoint]:
    "A real S3 HTTP server (moto in server mode) on a free loopback port, for the session; use one bucket per test."
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield S3Endpoint(host, port)
    finally:
        server.stop()
