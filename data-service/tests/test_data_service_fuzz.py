"""Fuzz the data endpoint with hypothesis: no body makes it fail. Skipped without hypothesis."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from litestar.testing import TestClient  # noqa: E402

from animal_data_service.app import create_app  # noqa: E402

DATA = "/api/v1/animals/data"
CLIENT_LIMIT = 1000  # above the default of 500 points, so that bodies without a count can succeed


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    "In-process client of an app with a limit of `CLIENT_LIMIT` points."
    with TestClient(create_app(max_points=CLIENT_LIMIT)) as test_client:
        yield test_client


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.dictionaries(
            st.sampled_from(["seed", "number_of_datapoints", "other"]),
            st.one_of(
                st.integers(min_value=-(2**300), max_value=2**300),
                st.integers(min_value=-3, max_value=CLIENT_LIMIT + 3),
                st.floats(allow_nan=True, allow_infinity=True),
                st.text(max_size=5),
                st.booleans(),
                st.none(),
                st.lists(st.integers(), max_size=2),
            ),
        ),
        st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    )
)
def test_no_body_makes_the_service_fail(client, body):
    "Whatever the body: 200 with the right number of points, or 422 whose errors are located in the body."
    raw = json.dumps(body) if isinstance(body, dict) else body
    response = client.post(DATA, content=raw, headers={"content-type": "application/json"})
    assert response.status_code in (200, 422)
    if response.status_code == 200:
        assert len(response.json()) == body.get("number_of_datapoints", 500)
    else:
        assert all(error["loc"][0] == "body" for error in response.json()["detail"])
