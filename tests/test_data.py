"""The data client against the real data service."""

import pandas as pd
import pytest
from servers import data_service, free_port

from animal_challenge.config import Settings
from animal_challenge.data import DataClient, DataServiceError, fetch_points
from animal_challenge.schema import FEATURES

# The contract's check values for seed 42, three points.
SEED42_FIRST3 = [
    {
        "walks_on_n_legs": 2,
        "height": 1.8966201999039332,
        "weight": 52.24459269017381,
        "has_wings": False,
        "has_tail": True,
    },
    {
        "walks_on_n_legs": 2,
        "height": 1.8706797949691645,
        "weight": 84.60897838524227,
        "has_wings": False,
        "has_tail": True,
    },
    {
        "walks_on_n_legs": 4,
        "height": 0.15161222204761285,
        "weight": 7.855076329135008,
        "has_wings": False,
        "has_tail": True,
    },
]


@pytest.fixture(scope="module")
def service_url():
    with data_service() as url:
        yield url


def test_fetch_gives_the_contract_values(service_url):
    df = fetch_points(42, 3, Settings(data_service_url=service_url))
    assert df.to_dict("records") == SEED42_FIRST3
    assert list(df.columns) == list(FEATURES)


def test_large_fetch_streams_with_progress(service_url, capsys):
    with DataClient(service_url) as client:
        df = client.fetch(seed=7, n=200_000, progress=True)
    assert len(df) == 200_000
    assert df.walks_on_n_legs.isin([1, 2, 3, 4, 5]).all()
    assert "200000/200000" in capsys.readouterr().err


def test_same_seed_same_points_and_prefix_property(service_url):
    with DataClient(service_url) as client:
        a, b = client.fetch(seed=3, n=500), client.fetch(seed=3, n=1000)
    pd.testing.assert_frame_equal(a, b.iloc[:500])


def test_cache_serves_a_second_fetch_without_the_service(tmp_path):
    with data_service() as url, DataClient(url, cache_dir=tmp_path) as client:
        first = client.fetch(seed=5, n=50)
    # the service is stopped now: only the cache can answer
    with DataClient(url, cache_dir=tmp_path, retries=0) as client:
        pd.testing.assert_frame_equal(client.fetch(seed=5, n=50), first)
        with pytest.raises(DataServiceError, match="cannot get points"):
            client.fetch(seed=5, n=51)


def test_service_refusal_is_reported_with_status(service_url):
    with DataClient(service_url) as client, pytest.raises(DataServiceError, match="with 422"):
        client.fetch(seed=1, n=0)


def test_unreachable_service_says_what_to_do():
    url = f"http://127.0.0.1:{free_port()}"
    with DataClient(url, retries=1, backoff=0.01) as client, pytest.raises(DataServiceError) as e:
        client.fetch(n=10)
    assert url in str(e.value) and "animal-data-service run" in str(e.value) and "after 2 attempts" in str(e.value)
