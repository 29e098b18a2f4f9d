"""The installed `animal-challenge` console script, run as a user would."""

import fcntl
import io
import os
import pty
import socket
import stat
import struct
import subprocess
import sys
import termios
from pathlib import Path

import httpx
import pandas as pd
import pytest
from servers import BIN, data_service, free_port, running

CLI = str(Path(sys.executable).parent / "animal-challenge")


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def service_url():
    with data_service() as url:
        yield url


def test_fetch_writes_csv_with_progress(service_url, tmp_path):
    out = tmp_path / "points.csv"
    r = run("fetch", "--seed", "42", "--n", "1000", "--out", str(out), "--data-service-url", service_url)
    assert r.returncode == 0, r.stderr
    assert "1000/1000" in r.stderr and f"wrote 1000 points (seed 42) to {out}" in r.stderr
    df = pd.read_csv(out)
    assert len(df) == 1000
    assert df.iloc[0].to_dict() == {
        "walks_on_n_legs": 2,
        "height": 1.8966201999039332,
        "weight": 52.24459269017381,
        "has_wings": False,
        "has_tail": True,
    }


def test_fetch_to_stdout(service_url):
    r = run("fetch", "--n", "2", "--no-progress", "--data-service-url", service_url)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "walks_on_n_legs,height,weight,has_wings,has_tail"
    assert len(r.stdout.splitlines()) == 3


def test_fetch_fails_clearly_when_service_is_down(tmp_path):
    out = tmp_path / "points.csv"
    out.write_text("previous content\n")
    url = f"http://127.0.0.1:{free_port()}"
    r = run("fetch", "--n", "10", "--out", str(out), "--data-service-url", url, "--retries", "0")
    assert r.returncode == 1
    assert f"cannot get points from the data service at {url}" in r.stderr
    assert "Traceback" not in r.stderr
    assert out.read_text() == "previous content\n"  # nothing already stored is lost


def test_fetch_into_missing_folder(service_url, tmp_path):
    r = run("fetch", "--n", "3", "--out", str(tmp_path / "nope" / "p.csv"), "--data-service-url", service_url)
    assert r.returncode == 1
    assert "folder" in r.stderr and "does not exist" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fetch", "--n", "0"], "argument --n: 0 must be greater than 0"),
        (["fetch", "--n", "ten"], "argument --n: 'ten' is not a whole number"),
        (["fetch", "--seed", "1.5"], "argument --seed: invalid int value"),
        (["fetch", "--timeout", "0"], "--timeout: Input should be greater than 0"),
        (["fetch", "--timeout", "inf"], "--timeout: Input should be a finite number"),  # was an OverflowError
        (["fetch", "--timeout", "1e308"], "--timeout: Input should be less than or equal to 3600"),
        (["dashboard", "--token", "a-token-typed-here-0123"], "unrecognized arguments: --token"),
        (["fetch", "--data-service-url"], "argument --data-service-url: expected one argument"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_and_name_the_flag(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("animal-challenge ")


def test_label_names_species_and_outliers_like_the_generator(tmp_path):
    from animal_data_service.generator import generate

    truth = pd.DataFrame(generate(seed=11, n=2000, labeled=True))
    src, out = tmp_path / "points.csv", tmp_path / "labeled.csv"
    truth.drop(columns="label").assign(note="kept").to_csv(src, index=False)
    r = run("label", str(src), "-o", str(out))
    assert r.returncode == 0, r.stderr
    labeled = pd.read_csv(out, keep_default_na=False)
    assert list(labeled.columns) == [*truth.columns.drop("label"), "note", "label", "outlier_reason"]
    real = truth.label != "noise"
    kept = labeled.label != "outlier"
    assert (labeled.label[real & kept] == truth.label[real & kept]).all()
    assert (kept & ~real).sum() <= 1  # noise inside an animal's box is indistinguishable (about 0.04 % of noise)
    assert (labeled.outlier_reason[~kept] != "").all() and (labeled.outlier_reason[kept] == "").all()
    assert "labeled 2000 points:" in r.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        ("walks_on_n_legs,height,weight,has_wings\n4,3,5000,false\n", "missing column(s) ['has_tail']"),
        ("walks_on_n_legs,height,weight,has_wings,has_tail\n4,tall,5000,false,true\n", "'height' must hold finite"),
        ("walks_on_n_legs,height,weight,has_wings,has_tail\n4,3,5000,maybe,true\n", "'has_wings' must be true/false"),
    ],
)
def test_label_refuses_bad_files_clearly(tmp_path, content, message):
    src = tmp_path / "in.csv"
    src.write_text(content)
    r = run("label", str(src), "-o", str(tmp_path / "out.csv"))
    assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out.csv").exists()


def test_label_missing_file(tmp_path):
    r = run("label", str(tmp_path / "absent.csv"))
    assert r.returncode == 1 and "absent.csv: no such file" in r.stderr


def test_train_stores_and_activates_a_version_in_a_folder(service_url, tmp_path):
    store = tmp_path / "models"
    r = run("train", "--seed", "3", "--n", "3000", "--data-service-url", service_url, "--store", str(store))
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.startswith("version ") and first.endswith(" (active)")
    assert "trained on seed 3, 3000 points" in r.stdout and "held-out accuracy: 1.0000" in r.stdout
    assert "[ 50%] fitting the model" in r.stderr and "3000/3000" in r.stderr
    version_id = first.split()[1]
    assert (store / "versions" / version_id / "model.skops").is_file()

    from animal_challenge.config import Settings
    from animal_challenge.training import model_store

    s = model_store(Settings(store=str(store)))
    assert s.active_id() == version_id
    model, version = s.load()
    assert (
        model.predict_one(
            {"walks_on_n_legs": 4, "height": 3.0, "weight": 5000.0, "has_wings": False, "has_tail": True}
        )["species"]
        == "elephant"
    )


def test_train_into_s3(service_url, moto_s3):
    env = {
        "ANIMAL_CHALLENGE_S3_ENDPOINT": moto_s3.endpoint,
        "ANIMAL_CHALLENGE_S3_ACCESS_KEY": moto_s3.access_key,
        "ANIMAL_CHALLENGE_S3_SECRET_KEY": moto_s3.secret_key,
    }
    import os

    r = run(
        "train",
        "--n",
        "2000",
        "--no-progress",
        "--data-service-url",
        service_url,
        "--store",
        "s3://cli-models/v",
        env={**os.environ, **env},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("version ") and r.stderr == ""


def test_train_fails_fast_when_the_store_is_unreachable(service_url):
    url = f"127.0.0.1:{free_port()}"
    r = run("train", "--n", "1000", "--data-service-url", service_url, "--store", "s3://models", "--s3-endpoint", url)
    assert r.returncode == 1
    assert f"cannot reach the S3 server at {url}" in r.stderr and "Traceback" not in r.stderr
    assert "fetching" not in r.stderr  # nothing was fetched or trained for a store that cannot take the result


def test_train_fails_clearly_when_the_data_service_is_down(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    r = run("train", "--n", "1000", "--data-service-url", url, "--store", str(tmp_path))
    assert r.returncode == 1 and "cannot get points from the data service" in r.stderr
    assert list(tmp_path.iterdir()) == [] or not any(p.name.startswith("2") for p in tmp_path.iterdir())


def test_api_with_an_unusable_history_file_fails_clearly(tmp_path):
    r = run("api", "--db", "/proc/no-such-folder/history.sqlite", "--port", str(free_port()), "--store", str(tmp_path))
    assert r.returncode == 1
    assert "cannot open the prediction history /proc/no-such-folder/history.sqlite" in r.stderr
    assert "Traceback" not in r.stderr


def test_label_counts_rows_as_the_file_does(tmp_path):
    "Row 1 is the header, so the bad value on the file's third line is row 3 (it was reported as row 1, from 0)."
    src = tmp_path / "in.csv"
    src.write_text("walks_on_n_legs,height,weight,has_wings,has_tail\n4,3,5000,false,true\n4,tall,5000,false,true\n")
    r = run("label", str(src), "-o", str(tmp_path / "out.csv"))
    assert r.returncode == 1
    assert "rows [3] hold ['tall'] (row 1 is the header)" in r.stderr


def test_help_loads_no_heavy_module():
    "`--help` and `--version` import no pandas, scikit-learn, pydantic or web stack (they took 3.6 s: bench/cli.py)."
    heavy = ("pandas", "numpy", "sklearn", "pydantic", "httpx", "litestar", "voila")
    for flag in ("--help", "--version"):
        code = (
            "import sys\nfrom animal_challenge.cli import main\n"
            f"try:\n    main([{flag!r}])\nexcept SystemExit:\n    pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(heavy)!r}), file=sys.stderr)"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stderr.strip() == "[]", f"{flag} imported {r.stderr.strip()}"


@pytest.mark.parametrize("flag", ["--data-service-url", "--api-url"])
def test_a_malformed_url_is_refused_at_once_naming_the_flag(tmp_path, flag):
    src = tmp_path / "in.csv"
    src.write_text("walks_on_n_legs,height,weight,has_wings,has_tail\n4,3,5000,false,true\n")
    args = ["fetch", "--n", "3"] if flag == "--data-service-url" else ["predict", str(src)]
    r = run(*args, flag, "not-a-url")
    assert r.returncode == 2
    assert f"{flag}: 'not-a-url' is not an http:// or https:// URL with a host" in r.stderr
    assert "cannot get points" not in r.stderr and "does not answer" not in r.stderr  # not tried as a server


@pytest.fixture
def busy_port():
    "A port something already listens on."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("command", ["api", "dashboard"])
def test_a_port_in_use_is_reported_before_anything_says_serving(tmp_path, busy_port, command):
    r = run(command, "--port", str(busy_port), *(["--data-dir", str(tmp_path)] if command == "api" else []))
    assert r.returncode == 1
    assert f"animal-challenge {command}: error: port {busy_port} on 127.0.0.1 is already in use" in r.stderr
    assert "serving" not in r.stderr and "dashboard at" not in r.stderr and "Voila" not in r.stderr


CLIENT = "cli-predict-client-0001"


@pytest.fixture(scope="module")
def api_url(service_url, tmp_path_factory):
    "A real API (`animal-challenge api`) with a first model trained on the data service's points."
    from animal_challenge.config import Settings
    from animal_challenge.training import train_and_store

    data_dir = tmp_path_factory.mktemp("predict")
    train_and_store(1, 2000, Settings(data_dir=data_dir, data_service_url=service_url))
    port = free_port()
    cmd = [str(BIN / "animal-challenge"), "api", "--port", str(port), "--data-dir", str(data_dir)]
    with running(cmd + ["--data-service-url", service_url], f"http://127.0.0.1:{port}/health", name="API"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def points_file(tmp_path_factory):
    "2 500 points of the generator (seed 5) with an extra column, and their true labels."
    from animal_data_service.generator import generate

    truth = pd.DataFrame(generate(seed=5, n=2500, labeled=True))
    path = tmp_path_factory.mktemp("points") / "points.csv"
    truth.drop(columns="label").assign(note=[f"n{i}" for i in range(len(truth))]).to_csv(path, index=False)
    return path, truth


def test_predict_classifies_a_file_in_chunks_and_records_it_for_the_client(api_url, points_file, tmp_path):
    src, truth = points_file
    out = tmp_path / "answers.csv"
    r = run("predict", str(src), "-o", str(out), "--api-url", api_url, "--client-id", CLIENT, "--chunk", "1000")
    assert r.returncode == 0, r.stderr
    answers = pd.read_csv(out, keep_default_na=False)
    assert len(answers) == 2500
    assert list(answers.columns[:6]) == [*truth.columns.drop("label"), "note"]  # the input first, as it was
    assert list(answers.note) == [f"n{i}" for i in range(2500)]  # in the file's order
    assert {"species", "reasons", "confidence", "conformal_set", "prediction_id", "model_version"} <= set(answers)
    real = truth.label != "noise"
    assert (answers.species[real] == truth.label[real]).mean() > 0.99
    assert (answers.species[~real] == "outlier").mean() > 0.9
    assert (answers.reasons[answers.species == "outlier"] != "").all()
    assert answers.prediction_id.is_unique and answers.model_version.nunique() == 1
    assert f"classified 2500 points into {out} with model {answers.model_version[0]}:" in r.stderr
    assert "it/s" not in r.stderr and "point/s" not in r.stderr  # stderr is not a terminal: no progress bar
    mine = httpx.get(api_url + "/predictions", params={"limit": 10}, headers={"X-Client-Id": CLIENT}, timeout=10)
    assert {p["id"] for p in mine.json()} <= set(answers.prediction_id)  # the client's history holds them
    assert len(mine.json()) == 10


def test_predict_shows_a_progress_bar_on_a_terminal(api_url, points_file, tmp_path):
    src, _ = points_file
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    proc = subprocess.Popen(
        [CLI, "predict", str(src), "-o", str(tmp_path / "a.csv"), "--api-url", api_url, "--chunk", "500"],
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the other end closed: the process is gone
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, shown
    text = shown.decode(errors="replace")
    assert "2500/2500" in text and "point" in text and "classified 2500 points" in text


def test_predict_names_the_bad_row_as_the_file_numbers_it(api_url, tmp_path):
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    lines = ["walks_on_n_legs,height,weight,has_wings,has_tail", "4,3,5000,false,true", "", "2,1.7,-60,false,false"]
    src.write_text("\n".join(lines) + "\n")
    r = run("predict", str(src), "-o", str(out), "--api-url", api_url)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "column 'weight' must be" in r.stderr and "rows [4] hold [-60.0]" in r.stderr  # line 4 in an editor
    assert not out.exists()


def test_predict_passes_on_the_apis_refusal(api_url, tmp_path):
    "A chunk above the API's batch limit (10 000) is refused by the API; its message reaches the user."
    from animal_data_service.generator import generate

    src, out = tmp_path / "many.csv", tmp_path / "out.csv"
    pd.DataFrame(generate(seed=2, n=10_001)).to_csv(src, index=False)
    r = run("predict", str(src), "-o", str(out), "--api-url", api_url, "--chunk", "20000")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "a batch holds at most 10000 points, this one has 10001: split it" in r.stderr
    assert not out.exists()


def test_predict_with_the_api_down_says_so(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("walks_on_n_legs,height,weight,has_wings,has_tail\n4,3,5000,false,true\n")
    url = f"http://127.0.0.1:{free_port()}"
    r = run("predict", str(src), "--api-url", url)
    assert r.returncode == 1 and f"The API at {url} does not answer" in r.stderr and "Traceback" not in r.stderr


def test_predict_refuses_a_bad_client_id(tmp_path):
    r = run("predict", str(tmp_path / "in.csv"), "--client-id", "me")
    assert r.returncode == 2 and "argument --client-id: 'me' is not a client id" in r.stderr


POINT = "walks_on_n_legs,height,weight,has_wings,has_tail\n4,3,5000,false,true\n"
ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


@ROOT
def test_fetch_into_a_device_writes_through_it(service_url, tmp_path):
    "A device made here with mknod (/dev/null's and /dev/full's numbers): it was replaced by a regular file, exit 0."
    null, full = tmp_path / "null", tmp_path / "full"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    r = run("fetch", "--n", "2", "-o", str(null), "--data-service-url", service_url)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(null.stat().st_mode)  # still the device
    r = run("fetch", "--n", "2", "-o", str(full), "--data-service-url", service_url)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"cannot write {full}: No space left on device" in r.stderr
    assert stat.S_ISCHR(full.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "null"]  # no temporary file left


def test_fetch_through_a_symlink_and_into_a_fifo(service_url, tmp_path):
    "The link stays a link to the new file (it was replaced by the file); a FIFO's reader gets the points."
    real, link, fifo = tmp_path / "real.csv", tmp_path / "link.csv", tmp_path / "fifo"
    real.write_text("old\n")
    link.symlink_to(real)
    r = run("fetch", "--n", "2", "-o", str(link), "--data-service-url", service_url)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and len(pd.read_csv(real)) == 2
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    try:
        r = run("fetch", "--n", "2", "-o", str(fifo), "--data-service-url", service_url)
        assert r.returncode == 0, r.stderr
        assert reader.communicate(timeout=30)[0].startswith("walks_on_n_legs,") and fifo.is_fifo()
    finally:
        reader.kill()  # if it never got the points (they went into a file put where the FIFO was)
        reader.wait()


def test_an_output_that_is_a_folder_is_refused_before_the_work(service_url, tmp_path):
    "`-o .` (like `-o /`) was a ValueError traceback, after fetching everything."
    (tmp_path / "in.csv").write_text(POINT)
    for args in (["fetch", "--n", "2", "--data-service-url", service_url], ["label", "in.csv"]):
        r = run(*args, "-o", ".", cwd=tmp_path)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert f"animal-challenge {args[0]}: error: cannot write .: it is a folder" in r.stderr
        assert "fetching" not in r.stderr


def test_label_says_what_an_input_is_and_reads_stdin(tmp_path):
    "A folder or a device said 'no such file'; an unreadable file was a PermissionError traceback."
    r = run("label", str(tmp_path))
    assert r.returncode == 1 and f"{tmp_path}: is a folder, not a file of points" in r.stderr
    r = run("label", "/dev/stdin", stdin=subprocess.DEVNULL)  # stdin is /dev/null: a device
    assert r.returncode == 1 and "/dev/stdin: is a character device, not a file of points" in r.stderr
    for unreadable in ("/proc/self/mem", "/proc/1/mem"):  # Input/output error; Permission denied
        r = run("predict", unreadable)
        assert r.returncode == 1 and f"{unreadable}: cannot read it: " in r.stderr and "Traceback" not in r.stderr
    from animal_data_service.generator import generate

    points = pd.DataFrame(generate(seed=11, n=500)).to_csv(index=False)
    for source in ("-", "/dev/stdin"):  # a pipe either way
        r = run("label", source, input=points)
        assert r.returncode == 0, r.stderr
        assert len(pd.read_csv(io.StringIO(r.stdout))) == 500 and "labeled 500 points" in r.stderr
    r = run("label", "-", input="walks_on_n_legs\n4\n")
    assert r.returncode == 1 and "standard input: missing column(s)" in r.stderr


@pytest.mark.parametrize("command", ["api", "dashboard"])
@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("no-such-host.invalid", "cannot listen on 'no-such-host.invalid': it is not a host name or address"),
        ("198.51.100.7", "cannot listen on 198.51.100.7: no interface of this machine has that address"),
    ],
)
def test_a_host_that_is_not_this_machines_is_named(tmp_path, command, host, message):
    "It was reported as 'port ... is already in use'."
    r = run(
        command,
        "--host",
        host,
        "--port",
        str(free_port()),
        *(["--data-dir", str(tmp_path)] if command == "api" else []),
    )
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"animal-challenge {command}: error: {message}" in r.stderr and "; set --host" in r.stderr
    assert "already in use" not in r.stderr


def test_a_setting_from_the_environment_is_named_by_its_variable(tmp_path):
    "It was named by its field (s3_secure), which the user never typed."
    env = {**os.environ, "ANIMAL_CHALLENGE_S3_SECURE": "maybe", "ANIMAL_CHALLENGE_DB": "mysql://u:secret@db/h"}
    r = run("api", env=env, cwd=tmp_path)
    assert r.returncode == 2
    assert "ANIMAL_CHALLENGE_S3_SECURE: Input should be a valid boolean" in r.stderr
    assert "ANIMAL_CHALLENGE_DB: a mysql:// URL is not a history this project can use" in r.stderr
    assert "secret" not in r.stderr
    r = run("api", "--db", "sqlite:///tmp/h.db", "--port", str(free_port()), cwd=tmp_path)  # as SQLAlchemy writes it
    assert r.returncode == 2 and "--db: a sqlite:// URL is not a history this project can use" in r.stderr
    assert list(tmp_path.iterdir()) == []  # no ./mysql:/ nor ./sqlite:/ file made


def test_train_makes_the_data_folder_its_owners_only(tmp_path):
    "The model store made it, readable by every user (0755), with the history inside."
    url = f"http://127.0.0.1:{free_port()}"
    data = tmp_path / "new" / "data"
    r = run(
        "train",
        "--n",
        "10",
        "--data-dir",
        str(data),
        "--data-service-url",
        url,
        env={**os.environ, "ANIMAL_CHALLENGE_RETRIES": "0"},
    )
    assert r.returncode == 1 and "cannot get points" in r.stderr
    assert [oct(p.stat().st_mode & 0o777) for p in (data.parent, data)] == ["0o700", "0o700"]
    r = run("train", "--n", "10", "--data-dir", "/proc/no-such", "--data-service-url", url)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert (
        "cannot use the data folder /proc/no-such: No such file or directory; choose one you can write with --data-dir"
        in r.stderr
    )
