"""The real server: the console script, uvicorn, streaming over a socket, configuration and start-up failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from animal_data_service import __version__
from animal_data_service.generator import generate, generate_json, generate_reference

DATA = "/api/v1/animals/data"


def test_contract_check_values_over_http(live_server):
    response = httpx.post(live_server + DATA, json={"seed": 42, "number_of_datapoints": 3})
    assert response.status_code == 200
    assert response.json() == generate_reference(42, 3)
    assert response.json()[0] == {
        "walks_on_n_legs": 2,
        "height": 1.8966201999039332,
        "weight": 52.24459269017381,
        "has_wings": False,
        "has_tail": True,
    }


def test_large_answer_is_streamed_and_exact(live_server):
    n = 150_000
    with httpx.stream("POST", live_server + DATA, json={"seed": 9, "number_of_datapoints": n}, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers.get("transfer-encoding") == "chunked"  # streamed, not built in memory first
        assert "content-length" not in response.headers
        body = b"".join(response.iter_bytes())
    assert body == generate_json(9, n)
    points = json.loads(body)
    assert len(points) == n
    assert points[-3:] == generate(9, n)[-3:]


def test_validation_error_over_http(live_server):
    response = httpx.post(live_server + DATA, json={"number_of_datapoints": 0})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "number_of_datapoints"]


def test_pages_over_http(live_server):
    assert "/docs" in httpx.get(live_server + "/").text
    docs = httpx.get(live_server + "/docs")
    assert docs.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
    assert httpx.get(live_server + "/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert httpx.get(live_server + "/openapi.json").json()["info"]["title"] == "Animal data service"


def test_settings_from_environment(serve, unused_port):
    "Host, port and limit can be set by environment variables only (as in the Docker image)."
    port = unused_port
    env = {
        "ANIMAL_DATA_SERVICE_HOST": "127.0.0.1",
        "ANIMAL_DATA_SERVICE_PORT": str(port),
        "ANIMAL_DATA_SERVICE_MAX_POINTS": "20",
    }
    with serve(env=env) as (url, _):
        assert url.endswith(f":{port}")
        assert httpx.post(url + DATA, json={"number_of_datapoints": 20}).status_code == 200
        response = httpx.post(url + DATA, json={"number_of_datapoints": 21})
        assert response.status_code == 422
        assert "at most 20" in response.json()["detail"][0]["msg"]


def test_command_line_wins_over_environment(serve):
    with serve(args=["--max-points", "5"], env={"ANIMAL_DATA_SERVICE_MAX_POINTS": "50"}) as (url, _):
        assert httpx.post(url + DATA, json={"number_of_datapoints": 5}).status_code == 200
        assert httpx.post(url + DATA, json={"number_of_datapoints": 6}).status_code == 422


def test_port_in_use_is_a_clear_error(serve):
    with serve() as (url, _):
        port = url.rsplit(":", 1)[1]
        result = run_cli("run", "--port", port, timeout=30)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_stops_the_server_gracefully(serve):
    "uvicorn finishes its shutdown, then re-raises the signal: the exit status says 'ended by SIGTERM'."
    with serve() as (url, server):
        server.proc.terminate()
        assert server.proc.wait(timeout=10) == -signal.SIGTERM
        log = server.log.read_text()
    assert f"animal-data-service {__version__}: {url} (docs at /docs; at most 1000000 points per request" in log
    assert "Shutting down" in log and "Finished server process" in log
    assert "Traceback" not in log


# ---------------------------------------------------------------------------------------------------------------------
# Command-line errors (no server starts)
# ---------------------------------------------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> subprocess.CompletedProcess:
    "Run `python -m animal_data_service ARGS` with this interpreter; capture its output."
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("ANIMAL_DATA_SERVICE_")}
    return subprocess.run(
        [sys.executable, "-m", "animal_data_service", *args],
        env={**clean_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args, env, message",
    [
        ([], {}, "the following arguments are required: COMMAND"),
        (["serve"], {}, "invalid choice: 'serve'"),
        (["run", "--port", "70000"], {}, "argument --port: 70000 is not a port number (an integer from 1 to 65535)"),
        (["run", "--port", "http"], {}, "argument --port: 'http' is not a port number"),
        (["run", "--max-points", "0"], {}, "argument --max-points: 0 is not a positive integer"),
        (["run", "--max-points", "1e6"], {}, "argument --max-points: '1e6' is not a positive integer"),
        (["run", "--host", ""], {}, "argument --host: the host must not be empty"),
        (["run", "--verbose"], {}, "unrecognized arguments: --verbose"),
        (["run"], {"ANIMAL_DATA_SERVICE_PORT": "abc"}, "environment variable ANIMAL_DATA_SERVICE_PORT: 'abc' is not"),
        (["run"], {"ANIMAL_DATA_SERVICE_MAX_POINTS": "-1"}, "environment variable ANIMAL_DATA_SERVICE_MAX_POINTS: -1"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(args, env, message):
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_host_is_a_clear_error():
    result = run_cli("run", "--host", "no-such-host.invalid", "--port", "8777")
    assert result.returncode == 1
    assert "cannot resolve host 'no-such-host.invalid'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_documents_the_environment_variables():
    result = run_cli("run", "--help")
    assert result.returncode == 0
    for variable in ("ANIMAL_DATA_SERVICE_HOST", "ANIMAL_DATA_SERVICE_PORT", "ANIMAL_DATA_SERVICE_MAX_POINTS"):
        assert variable in result.stdout


def test_in_process_background_service():
    "`running_service` (for notebooks) serves the real app over HTTP from a thread, on a free port."
    from animal_data_service.background import running_service

    with running_service(max_points=10) as url:
        assert httpx.post(url + DATA, json={"seed": 42, "number_of_datapoints": 3}).json() == generate_reference(42, 3)
        assert httpx.post(url + DATA, json={"number_of_datapoints": 11}).status_code == 422
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/", timeout=2)
