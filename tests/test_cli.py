"""The installed `animal-challenge` console script, run as a user would."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from servers import data_service, free_port

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
