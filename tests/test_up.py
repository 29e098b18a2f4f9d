"""`animal-challenge up` for real: every part starts, answers, and stops with it, leaving no process behind."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from servers import free_port

CLI = str(Path(sys.executable).parent / "animal-challenge")


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 180) -> str:
    "The lines `proc` prints up to and including the one containing `marker`."
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("up exited early:\n" + "".join(lines))
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"no {marker!r} within {timeout} s:\n" + "".join(lines))


@pytest.fixture
def ports():
    return {"data_service": free_port(), "api": free_port(), "dashboard": free_port()}


STARTED: list[subprocess.Popen] = []  # every `up` a test started, for `kill_what_is_left`


@pytest.fixture(autouse=True)
def kill_what_is_left():
    "An `up` a failed test left running is killed, and its servers with it (they get SIGTERM when it dies)."
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def start_up(tmp_path, ports, *extra):
    cmd = [
        CLI, "up", "--data-dir", str(tmp_path), "--data-service-port", str(ports["data_service"]),
        "--api-port", str(ports["api"]), "--dashboard-port", str(ports["dashboard"]), *extra,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANIMAL_CHALLENGE_")}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, preexec_fn=ignore_sigint
    )
    STARTED.append(proc)
    return proc


def ignore_sigint():
    "`up` starts with SIGINT ignored, as a script's background job (`animal-challenge up &`) does: it must stop on it."
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_up_runs_everything_and_stops_cleanly(tmp_path, ports):
    proc = start_up(
        tmp_path,
        ports,
    )
    try:
        out = read_until(proc, "press Ctrl-C to stop")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2
        assert "the API trains a first model (job " in out and "is active" in out
        assert "admin token" in out  # made for the run, printed with the URLs
        api = f"http://127.0.0.1:{ports['api']}"
        assert f"API           {api}" in out
        r = httpx.post(
            api + "/predict",
            json={"walks_on_n_legs": 4, "height": 3.0, "weight": 5000.0, "has_wings": False, "has_tail": True},
        )
        assert r.status_code == 200 and r.json()["species"] == "elephant"
        assert (tmp_path / "history.sqlite").exists() and (tmp_path / "models").is_dir()
        dashboard = f"http://127.0.0.1:{ports['dashboard']}"
        assert f"dashboard     {dashboard}" in out
        page = httpx.get(dashboard + "/", timeout=120)
        assert page.status_code == 200 and "voila" in page.text.lower()
        children = psutil.Process(proc.pid).children(recursive=True)  # now with the page's kernel
        token = next(line.split()[2] for line in out.splitlines() if line.strip().startswith("admin token"))
        voila = [  # Voila serves dashboard.ipynb; not "voila" in the command line: it may be in a folder's name
            c.environ()
            for c in children
            if "dashboard.ipynb" in " ".join(c.cmdline()) or "ipykernel" in " ".join(c.cmdline())
        ]
        assert voila and all(token not in env.values() for env in voila)  # the dashboard and its kernels hold no token
    finally:
        proc.send_signal(signal.SIGINT)
        rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    assert rest.split() == ["stopping...", "stopped"]  # the page's kernels printed nothing here
    block = out[out.index("\nready:") :].splitlines()
    assert [line.split()[0] for line in block[2:-1]] == ["data", "API", "dashboard", "API", "admin", "server"]
    for noise in ("[Voila]", "not trusted", "TCP without encryption", "INFO", "WARNING"):
        assert noise not in out, f"{noise!r} reached the terminal:\n{out}"  # it goes to the servers' logs
    logs = tmp_path / "logs"
    dashboard_log = (logs / "dashboard.log").read_text()
    assert dashboard_log.startswith("# Voila's 'Notebook dashboard.ipynb is not trusted'") and "Voil" in dashboard_log
    assert "serving the API at" in (logs / "API.log").read_text()
    time.sleep(0.5)
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []


def test_up_reports_a_port_in_use(tmp_path, ports):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports["api"]))
        taken.listen()
        proc = start_up(
            tmp_path,
            ports,
        )
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 1
    assert f"port {ports['api']} for the API is already in use (use --api-port)" in out
    assert "Traceback" not in out


def test_up_stops_on_sigterm_too(tmp_path, ports):
    proc = start_up(
        tmp_path,
        ports,
    )
    read_until(proc, "press Ctrl-C to stop")
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.terminate()
    proc.communicate(timeout=60)
    time.sleep(0.5)
    assert [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE] == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data-dir", "/proc/no-such"], "cannot use the data folder /proc/no-such for the servers' logs"),
        (["--api-port", "{port}", "--dashboard-port", "{port}"], "the API and the dashboard cannot share port {port}"),
        (["--host", "no-such-host.invalid"], "cannot listen on 'no-such-host.invalid': it is not a host name"),
    ],
)
def test_up_refuses_what_it_cannot_use_before_starting_anything(tmp_path, ports, extra, message):
    "A data folder it cannot make was a FileNotFoundError traceback; one port for all three started them all."
    extra = [a.format(port=ports["api"]) for a in extra]
    proc = start_up(tmp_path, ports, *extra)  # the later flags win
    out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 1, out
    assert f"animal-challenge up: error: {message.format(port=ports['api'])}" in out
    assert "Traceback" not in out and "starting the" not in out
