"""The model store's contract, run against both backends: a folder, and an S3 bucket on a real S3 HTTP server (moto)."""

import hashlib
import json
import os
import socket
import threading
import time
import uuid
from fractions import Fraction

import moto.settings
import numpy as np
import pandas as pd
import pytest
import sklearn
from minio.error import S3Error
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from animal_challenge import registry
from animal_challenge.artifacts import (
    ARTIFACT,
    METADATA,
    SAMPLE,
    VERSION_ID,
    BadSignature,
    ModelStoreError,
    UnknownVersion,
    new_version_id,
)
from animal_challenge.config import Settings
from animal_challenge.process import free_port
from animal_challenge.registry import POINTER, LocalModelStore
from animal_challenge.s3store import S3ModelStore, open_store, s3_client
from animal_challenge.schema import FEATURES

X = pd.DataFrame(
    [[2, 1.8, 60.0, False, True], [4, 3.0, 5000.0, False, True], [2, 0.4, 2.5, True, True], [4, 0.6, 25.0, False, True]]
    * 5,
    columns=list(FEATURES),
)
Y = ["kangaroo", "elephant", "chicken", "dog"] * 5
PROVENANCE = {
    "service_url": "http://127.0.0.1:8777",
    "seed": 42,
    "n": 1000,
    "n_outliers": 12,
    "label_counts": {"kangaroo": 250, "elephant": 240, "chicken": 248, "dog": 250},
}
META = {"metrics": {"accuracy": 0.995, "confusion": np.eye(4, dtype=np.int64)}, "provenance": PROVENANCE}
ODD = ["fractions.Fraction"]  # a type outside skops' defaults, for the trusted-types tests


@pytest.fixture(scope="module")
def pipe():
    "A small fitted scikit-learn pipeline on the five features."
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, Y)


def client_for(s3, timeout: float = 5.0, retries: int = 0):
    "A minio client for the test S3 server."
    return s3_client(s3.endpoint, s3.access_key, s3.secret_key, timeout=timeout, retries=retries)


@pytest.fixture(params=["local", "s3"])
def open_backend(request, tmp_path):
    "A function that opens the store under test (the same store on every call) with a given trusted list."
    if request.param == "local":
        folder = tmp_path / "models"
        return lambda trusted=(), signing_key=None: LocalModelStore(folder, trusted, signing_key)
    s3 = request.getfixturevalue("moto_s3")
    bucket = f"models-{uuid.uuid4().hex[:12]}"
    return lambda trusted=(), signing_key=None: S3ModelStore(client_for(s3), bucket, "prod", trusted, signing_key)


@pytest.fixture
def store(open_backend):
    return open_backend()


def flip_last_byte(store, key: str) -> None:
    "Change one bit of the object stored under `key`, as a disk error or a hand would."
    data = store._read(key)
    store._write(key, data[:-1] + bytes([data[-1] ^ 1]))


# The contract, for both backends


def test_empty_store_has_no_active_model_and_says_how_to_train_one(store):
    assert store.list() == []
    assert store.active_id() is None
    assert store.history() == []
    with pytest.raises(ModelStoreError, match="holds no model yet; train one with `animal-challenge train") as e:
        store.load()
    assert f"--store {store.location}`" in str(e.value)


def test_save_stores_an_inactive_version_with_its_whole_record(store, pipe):
    v = store.save(pipe, META)
    assert VERSION_ID.fullmatch(v.id)
    assert v.active is False
    assert store.active_id() is None
    artifact = store._read(f"versions/{v.id}/{ARTIFACT}")
    assert v.sha256 == hashlib.sha256(artifact).hexdigest()
    assert v.size == len(artifact)
    assert v.metrics == {"accuracy": 0.995, "confusion": np.eye(4, dtype=int).tolist()}
    assert v.provenance.model_dump() == PROVENANCE
    assert v.features["names"] == list(FEATURES)
    assert v.features["point"]["required"] == list(FEATURES)
    assert list(v.libraries) == ["python", "scikit-learn", "numpy", "pandas", "skops", "animal_challenge"]
    assert v.libraries["scikit-learn"] == sklearn.__version__
    stored = json.loads(store._read(f"versions/{v.id}/{METADATA}"))
    assert stored["sha256"] == v.sha256
    assert stored["provenance"]["n_outliers"] == 12
    assert "active" not in stored  # the active flag lives in the pointer only
    assert store.get(v.id) == v
    assert store.list() == [v]


def test_a_training_sample_travels_with_its_version_and_is_checked(store, pipe):
    sample = X.assign(label=Y)
    v = store.save(pipe, META, sample=sample)
    assert (v.sample_size, store.get(v.id).sample_sha256) == (len(sample), v.sample_sha256)
    assert store.sample(v.id).equals(sample.reset_index(drop=True))
    flip_last_byte(store, f"versions/{v.id}/{SAMPLE}")
    with pytest.raises(ModelStoreError, match="checksum mismatch for the training sample"):
        store.sample(v.id)
    without = store.save(pipe, META)
    with pytest.raises(UnknownVersion, match="was saved without a training sample"):
        store.sample(without.id)


def test_list_is_newest_first(store, pipe):
    saved = [store.save(pipe, META) for _ in range(3)]
    listed = store.list()
    assert [v.id for v in listed] == [v.id for v in reversed(saved)]
    assert [v.created_at for v in listed] == sorted((v.created_at for v in saved), reverse=True)


def test_load_gives_back_a_working_model(store, pipe):
    v = store.save(pipe, META)
    model, version = store.load(v.id)
    assert version == v
    assert model.predict(X).tolist() == pipe.predict(X).tolist()
    np.testing.assert_allclose(model.predict_proba(X), pipe.predict_proba(X))


def test_activate_switches_the_active_version(store, pipe):
    a, b = store.save(pipe, META), store.save(pipe, META)
    assert store.activate(a.id).active is True
    assert store.active_id() == a.id
    assert store.load()[1].id == a.id
    store.activate(b.id)
    assert store.active_id() == b.id
    assert store.get(b.id).active is True
    assert store.get(a.id).active is False
    assert [(v.id, v.active) for v in store.list()] == [(b.id, True), (a.id, False)]
    assert [(e["action"], e["version"]) for e in store.history()] == [("activate", a.id), ("activate", b.id)]


def test_activating_the_active_version_changes_nothing(store, pipe):
    a = store.save(pipe, META)
    store.activate(a.id)
    store.activate(a.id)
    assert len(store.history()) == 1
    with pytest.raises(ModelStoreError, match="nothing to roll back to"):
        store.rollback()


def test_a_reopened_store_sees_the_same_versions_and_pointer(open_backend, pipe):
    first = open_backend()
    a = first.save(pipe, META)
    first.activate(a.id)
    again = open_backend()
    assert again.active_id() == a.id
    assert again.list() == first.list()


def test_rollback_walks_back_through_the_activations(store, pipe):
    a, b, c = (store.save(pipe, META) for _ in range(3))
    for v in (a, b, c):
        store.activate(v.id)
    assert store.rollback() == b.id
    assert store.active_id() == b.id
    assert store.rollback() == a.id
    with pytest.raises(ModelStoreError, match=f"nothing to roll back to in .*before {a.id}"):
        store.rollback()
    assert store.active_id() == a.id
    actions = [(e["action"], e["version"]) for e in store.history()]
    assert actions[-2:] == [("rollback", b.id), ("rollback", a.id)]


def test_rollback_skips_deleted_versions(store, pipe):
    a, b, c = (store.save(pipe, META) for _ in range(3))
    for v in (a, b, c):
        store.activate(v.id)
    store.delete(b.id)
    assert store.rollback() == a.id


def test_activating_an_unknown_version_fails_and_keeps_the_pointer(store, pipe):
    a = store.save(pipe, META)
    store.activate(a.id)
    pointer = store._read(POINTER)
    unknown = new_version_id()
    with pytest.raises(ModelStoreError, match=f"no version {unknown} in {store.location}"):
        store.activate(unknown)
    with pytest.raises(ModelStoreError, match="'../../etc/passwd' is not a model version id"):
        store.activate("../../etc/passwd")
    assert store._read(POINTER) == pointer
    assert store.active_id() == a.id


def test_unknown_version_is_an_error_everywhere(store):
    unknown = new_version_id()
    for call in (store.get, store.load, store.delete):
        with pytest.raises(ModelStoreError, match=f"no version {unknown}"):
            call(unknown)


def test_a_tampered_artifact_is_refused(store, pipe):
    a = store.save(pipe, META)
    store.activate(a.id)
    flip_last_byte(store, f"versions/{a.id}/{ARTIFACT}")
    expected = f"checksum mismatch for version {a.id}: the artifact was changed after it was saved"
    with pytest.raises(ModelStoreError, match=expected):
        store.load(a.id)
    with pytest.raises(ModelStoreError, match=expected):
        store.load()


def test_a_tampered_version_cannot_be_activated(store, pipe):
    a, b = store.save(pipe, META), store.save(pipe, META)
    store.activate(a.id)
    flip_last_byte(store, f"versions/{b.id}/{ARTIFACT}")
    with pytest.raises(ModelStoreError, match=f"checksum mismatch for version {b.id}"):
        store.activate(b.id)
    assert store.active_id() == a.id


def test_tampered_metadata_is_refused(store, pipe):
    a, b = store.save(pipe, META), store.save(pipe, META)
    key = f"versions/{a.id}/{METADATA}"
    store._write(key, store._read(key).replace(b'"accuracy": 0.995', b'"accuracy": 0.999'))
    with pytest.raises(ModelStoreError, match=f"checksum mismatch for version {a.id}: its metadata was changed"):
        store.get(a.id)
    key = f"versions/{b.id}/{METADATA}"
    store._write(key, store._read(key).replace(b.sha256.encode(), b"0" * 64))
    with pytest.raises(ModelStoreError, match=f"checksum mismatch for version {b.id}"):
        store.load(b.id)


KEY = "the signing key of the tests, 32+ chars"


def forge(store, version_id: str, artifact: bytes, keep_signature: bool) -> None:
    "Swap `version_id`'s artifact for `artifact` as a writer without the key would, record and seal updated to match."
    store._write(f"versions/{version_id}/{ARTIFACT}", artifact)
    record = json.loads(store._read(f"versions/{version_id}/{METADATA}"))
    record |= {"sha256": hashlib.sha256(artifact).hexdigest(), "size": len(artifact)}
    signature = record.pop("metadata_hmac", None)
    record.pop("metadata_sha256", None)
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
    seal = (
        {"metadata_hmac": signature} if keep_signature else {"metadata_sha256": hashlib.sha256(canonical).hexdigest()}
    )
    store._write(f"versions/{version_id}/{METADATA}", json.dumps(record | seal).encode())


def test_a_signed_store_round_trips_and_signs_every_record(open_backend, pipe):
    store = open_backend(signing_key=KEY)
    v = store.save(pipe, META, sample=X.assign(label=Y))
    store.activate(v.id)
    model, loaded = open_backend(signing_key=KEY).load()
    assert loaded == store.get(v.id) and loaded.active
    assert model.predict(X[:4]).tolist() == Y[:4]
    assert store.sample(v.id).label.tolist() == Y
    record = json.loads(store._read(f"versions/{v.id}/{METADATA}"))
    assert "metadata_sha256" not in record and len(record["metadata_hmac"]) == 64


@pytest.mark.parametrize("keep_signature", [False, True], ids=["plain-seal-recomputed", "old-signature-kept"])
def test_a_swapped_artifact_with_its_checksums_recomputed_is_refused_with_a_key(open_backend, pipe, keep_signature):
    signed = open_backend(signing_key=KEY)
    served = signed.save(pipe, META)
    signed.activate(served.id)
    wrong = Y[1:] + Y[:1]  # every animal named as another
    planted = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, wrong)  # the attacker's model
    forge(signed, served.id, registry.dump_model(planted, ()), keep_signature)
    if not keep_signature:  # what a checksum alone lets through: the planted model, served
        assert open_backend().load()[0].predict(X[:4]).tolist() == wrong[:4]
    expected = "signature mismatch" if keep_signature else "is not signed, and this store uses only signed versions"
    for call in (signed.load, lambda: signed.load(served.id), lambda: signed.activate(served.id)):
        with pytest.raises(BadSignature, match=expected):
            call()


def test_a_version_signed_with_another_key_is_refused(open_backend, pipe):
    v = open_backend(signing_key=KEY).save(pipe, META)
    with pytest.raises(BadSignature, match=f"signature mismatch for version {v.id}: .* or signed with another key"):
        open_backend(signing_key=KEY.upper()).get(v.id)


def test_a_store_written_without_a_key_is_refused_once_a_key_is_set(open_backend, pipe):
    unsigned = open_backend()
    unsigned.activate(unsigned.save(pipe, META).id)
    keyed = open_backend(signing_key=KEY)
    for call in (keyed.load, keyed.list):
        with pytest.raises(BadSignature, match="saved without the signing key.*train a new version with the key set"):
            call()
    signed = keyed.save(pipe, META)  # what to do: train anew with the key
    with pytest.raises(BadSignature, match=f"version {signed.id} is signed, and this store has no signing key"):
        unsigned.get(signed.id)


def test_a_damaged_pointer_is_reported_with_what_to_do(store, pipe):
    store.activate(store.save(pipe, META).id)
    store._write(POINTER, b"{not json")
    with pytest.raises(ModelStoreError, match=f"the active pointer {store.location}/active.json is damaged"):
        store.active_id()


def test_a_model_with_untrusted_types_is_not_saved(store, pipe):
    with pytest.raises(ModelStoreError, match=r"holds types the store does not trust: \['fractions.Fraction'\]"):
        store.save({"pipe": pipe, "prior": Fraction(1, 4)}, META)
    assert store.list() == []


def test_an_artifact_with_untrusted_types_is_refused_on_load(open_backend, pipe):
    writer = open_backend(trusted=ODD)
    v = writer.save({"pipe": pipe, "prior": Fraction(1, 4)}, META)
    reader = open_backend()
    with pytest.raises(
        ModelStoreError, match=rf"version {v.id} holds types that are not trusted: \['fractions.Fraction'\]"
    ):
        reader.load(v.id)
    with pytest.raises(ModelStoreError, match="not trusted"):
        reader.activate(v.id)
    assert reader.active_id() is None
    model, _ = reader.load(v.id, trusted=ODD)  # the caller vouches for it explicitly
    assert model["prior"] == Fraction(1, 4)


def test_saving_never_overwrites_a_version(store, pipe, monkeypatch):
    a = store.save(pipe, META)
    monkeypatch.setattr(registry, "new_version_id", lambda now=None: a.id)
    with pytest.raises(ModelStoreError, match=f"version {a.id} already exists in {store.location}; it was left as it"):
        store.save(make_pipeline(StandardScaler()).fit(X), {"metrics": {"accuracy": 0.1}, "provenance": PROVENANCE})
    assert store.list() == [a]
    model, version = store.load(a.id)
    assert version.metrics["accuracy"] == 0.995
    assert model.predict(X).tolist() == pipe.predict(X).tolist()


def test_metadata_without_provenance_is_refused_and_nothing_is_stored(store, pipe):
    with pytest.raises(ModelStoreError, match="metadata needs 'provenance'"):
        store.save(pipe, {"metrics": {}})
    with pytest.raises(ModelStoreError, match="label_counts"):
        store.save(pipe, {"provenance": {k: v for k, v in PROVENANCE.items() if k != "label_counts"}})
    assert store.list() == []


def test_delete_removes_an_inactive_version_only(store, pipe):
    a, b = store.save(pipe, META), store.save(pipe, META)
    store.activate(a.id)
    with pytest.raises(ModelStoreError, match=f"version {a.id} is active"):
        store.delete(a.id)
    store.delete(b.id)
    assert [v.id for v in store.list()] == [a.id]
    assert store._read(f"versions/{b.id}/{ARTIFACT}") is None


def test_concurrent_saves_give_distinct_complete_versions(open_backend, pipe):
    stores, ids, errors = [open_backend() for _ in range(6)], [], []

    def save(s):
        try:
            ids.append(s.save(pipe, META).id)
        except Exception as e:  # collected so the assertion below shows it
            errors.append(e)

    threads = [threading.Thread(target=save, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 6
    assert sorted(v.id for v in stores[0].list()) == sorted(ids)


def test_a_model_for_other_features_is_refused(store, pipe, monkeypatch):
    v = store.save(pipe, META)
    monkeypatch.setattr(registry, "FEATURES", (*FEATURES, "colour"))
    with pytest.raises(ModelStoreError, match=f"version {v.id} reads the features"):
        store.load(v.id)


# The folder backend


def test_a_folder_that_cannot_be_created_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    with pytest.raises(ModelStoreError, match=f"cannot use {blocker / 'models'} as a model store") as e:
        open_store(str(blocker / "models"), Settings())
    assert "--store or ANIMAL_CHALLENGE_STORE" in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_reported_on_save(tmp_path, pipe):
    store = LocalModelStore(tmp_path / "models")
    (tmp_path / "models" / "versions").chmod(0o555)
    try:
        with pytest.raises(ModelStoreError, match="Permission denied"):
            store.save(pipe, META)
    finally:
        (tmp_path / "models" / "versions").chmod(0o755)


def test_a_failed_folder_save_leaves_no_version(tmp_path, pipe, monkeypatch):
    store = LocalModelStore(tmp_path / "models")
    real_write = registry._write_file

    def disk_full_at_metadata(path, data):
        if path.name == METADATA:
            raise OSError(28, "No space left on device", str(path))
        real_write(path, data)

    monkeypatch.setattr(registry, "_write_file", disk_full_at_metadata)
    with pytest.raises(ModelStoreError, match="No space left on device"):
        store.save(pipe, META)
    assert store.list() == []
    assert list((tmp_path / "models" / "versions").iterdir()) == []


def test_the_folder_pointer_is_replaced_without_leftovers(tmp_path, pipe):
    store = LocalModelStore(tmp_path / "models")
    for _ in range(2):
        store.activate(store.save(pipe, META).id)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [".lock", "active.json", "versions"]


def test_open_store_opens_a_folder_and_refuses_other_urls(tmp_path):
    store = open_store(str(tmp_path / "m"), Settings())
    assert isinstance(store, LocalModelStore)
    assert store.location == str(tmp_path / "m")
    with pytest.raises(ModelStoreError, match="a store is a folder or s3://bucket/prefix"):
        open_store("https://example.com/models", Settings())
    with pytest.raises(ModelStoreError, match="names no bucket"):
        open_store("s3:///models", Settings())


# The S3 backend


def test_the_bucket_is_created_if_missing(moto_s3):
    client, bucket = client_for(moto_s3), f"fresh-{uuid.uuid4().hex[:12]}"
    assert client.bucket_exists(bucket) is False
    S3ModelStore(client, bucket, "prod")
    assert client.bucket_exists(bucket) is True
    S3ModelStore(client, bucket, "prod")  # an existing bucket is used as it is


def test_open_store_uses_the_s3_settings(moto_s3, pipe):
    bucket = f"team-{uuid.uuid4().hex[:12]}"
    settings = Settings(
        s3_endpoint=moto_s3.endpoint, s3_access_key=moto_s3.access_key, s3_secret_key=moto_s3.secret_key
    )
    store = open_store(f"s3://{bucket}/animals/models", settings)
    assert isinstance(store, S3ModelStore)
    assert store.location == f"s3://{bucket}/animals/models"
    v = store.save(pipe, META)
    store.activate(v.id)
    keys = sorted(o.object_name for o in client_for(moto_s3).list_objects(bucket, recursive=True))
    assert keys == [
        "animals/models/active.json",
        f"animals/models/versions/{v.id}/metadata.json",
        f"animals/models/versions/{v.id}/model.skops",
    ]


def test_an_unreachable_s3_server_is_reported_quickly(pipe):
    port = free_port()
    start = time.monotonic()
    with pytest.raises(
        ModelStoreError, match=f"cannot reach the S3 server at 127.0.0.1:{port} to open s3://models/prod"
    ):
        open_store("s3://models/prod", Settings(s3_endpoint=f"127.0.0.1:{port}"))
    assert time.monotonic() - start < 5


def test_a_silent_s3_server_times_out_instead_of_hanging():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ModelStoreError, match="cannot reach the S3 server at .* Read timed out"):
            S3ModelStore(s3_client(endpoint, "k", "s", timeout=0.5, retries=1), "models")
        assert time.monotonic() - start < 5


def test_refused_credentials_are_reported(moto_s3, monkeypatch, pipe):
    store = S3ModelStore(client_for(moto_s3), f"locked-{uuid.uuid4().hex[:12]}", "prod")
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto now checks keys: ours are unknown
    with pytest.raises(
        ModelStoreError, match="the S3 server refused access trying to read active.json from s3://locked-"
    ) as e:
        store.list()
    assert "Check ANIMAL_CHALLENGE_S3_ACCESS_KEY and ANIMAL_CHALLENGE_S3_SECRET_KEY" in str(e.value)
    with pytest.raises(ModelStoreError, match="refused access trying to open"):
        S3ModelStore(client_for(moto_s3), f"locked-{uuid.uuid4().hex[:12]}", "prod")


def test_a_failed_s3_save_leaves_no_version_and_no_orphan(moto_s3, pipe, monkeypatch):
    client, bucket = client_for(moto_s3), f"flaky-{uuid.uuid4().hex[:12]}"
    store = S3ModelStore(client, bucket, "prod")
    real_put = client.put_object

    def fail_at_metadata(bucket_name, object_name, *args, **kwargs):
        if object_name.endswith(METADATA):
            raise S3Error(None, "InternalError", "disk failed", object_name, "req", "host")
        return real_put(bucket_name, object_name, *args, **kwargs)

    monkeypatch.setattr(client, "put_object", fail_at_metadata)
    with pytest.raises(ModelStoreError, match="the S3 server answered InternalError"):
        store.save(pipe, META)
    assert store.list() == []
    assert list(client.list_objects(bucket, prefix="prod/versions/", recursive=True)) == []


def test_s3_store_at_the_bucket_root(moto_s3, pipe):
    client, bucket = client_for(moto_s3), f"root-{uuid.uuid4().hex[:12]}"
    store = S3ModelStore(client, bucket, prefix="")
    assert store.location == f"s3://{bucket}"
    v = store.save(pipe, META)
    assert client.stat_object(bucket, f"versions/{v.id}/{ARTIFACT}").size == v.size
