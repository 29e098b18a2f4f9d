"""The HTTP API in process (Litestar TestClient): endpoints, shapes, values and every kind of bad body."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from animal_data_service.app import MAX_BODY_BYTES, create_app, parse_data_request
from animal_data_service.generator import generate_reference

DATA = "/api/v1/animals/data"
CHECK_VALUES = generate_reference(42, 3)
SMALL_LIMIT = 1000  # max_points of the `client` app: lets tests hit the limit without generating much


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    "In-process client of an app whose limit is `SMALL_LIMIT` points per request."
    with TestClient(create_app(max_points=SMALL_LIMIT)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def default_client() -> Iterator[TestClient]:
    "In-process client of an app with the default settings."
    with TestClient(create_app()) as test_client:
        yield test_client


def post_raw(client, body: bytes | str):
    return client.post(DATA, content=body, headers={"content-type": "application/json"})


# ---------------------------------------------------------------------------------------------------------------------
# Good requests
# ---------------------------------------------------------------------------------------------------------------------


def test_contract_check_values(client, contract_check_values):
    response = client.post(DATA, json={"seed": 42, "number_of_datapoints": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == contract_check_values


def test_defaults_are_seed_42_and_500_points(client):
    response = client.post(DATA, json={})
    assert response.status_code == 200
    assert response.json() == generate_reference(42, 500)
    assert client.post(DATA, json={"number_of_datapoints": 3}).json() == CHECK_VALUES
    assert client.post(DATA, json={"seed": 7}).json() == generate_reference(7, 500)


def test_unknown_fields_are_ignored(client):
    "As the public (FastAPI) service does: extra keys change nothing."
    response = client.post(DATA, json={"seed": 42, "number_of_datapoints": 3, "labels": True, "n": 9})
    assert response.status_code == 200
    assert response.json() == CHECK_VALUES


@pytest.mark.parametrize("written", ["3.0", "3.000", "0.3e1", "3E0", "300e-2"])
def test_whole_numbers_written_as_floats_are_integers(client, written):
    "JSON Schema's integer (and the public service) accepts 3.0; so do we. 1.5 stays refused."
    response = post_raw(client, f'{{"seed": 42.0, "number_of_datapoints": {written}}}')
    assert response.status_code == 200
    assert response.json() == CHECK_VALUES


def test_content_type_is_not_required(client):
    "curl -d sends form content type by default; the body is read as JSON anyway."
    response = client.post(DATA, content=b'{"number_of_datapoints": 3}', headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert response.json() == CHECK_VALUES


@pytest.mark.parametrize("seed", [-42, -1, 0, 2**32, 2**64 + 1, 2**256 - 1, -(2**256 - 1)])
def test_seeds_behave_as_in_python(client, seed):
    "Negative seeds give the points of abs(seed) (random.seed's rule); big ints up to the bound are read exactly."
    body = json.dumps({"seed": seed, "number_of_datapoints": 4})
    response = post_raw(client, body)
    assert response.status_code == 200
    assert response.json() == generate_reference(seed, 4) == generate_reference(abs(seed), 4)


def test_limit_is_allowed_exactly(client):
    response = client.post(DATA, json={"number_of_datapoints": SMALL_LIMIT})
    assert response.status_code == 200
    assert len(response.json()) == SMALL_LIMIT


def test_same_request_same_answer(client):
    first = client.post(DATA, json={"seed": 5, "number_of_datapoints": 50}).content
    assert client.post(DATA, json={"seed": 5, "number_of_datapoints": 50}).content == first
    assert client.post(DATA, json={"seed": 6, "number_of_datapoints": 50}).content != first


# ---------------------------------------------------------------------------------------------------------------------
# Bad requests: 422 with FastAPI's error shape, naming the field
# ---------------------------------------------------------------------------------------------------------------------

BAD_BODIES = [
    # (body, loc, type)
    ('{"number_of_datapoints": 0}', ["body", "number_of_datapoints"], "greater_than"),
    ('{"number_of_datapoints": -5}', ["body", "number_of_datapoints"], "greater_than"),
    ('{"number_of_datapoints": 1.5}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": 2.5e0}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": 1e-3}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": 1e400}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": "3"}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": "many"}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": true}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": null}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": [3]}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": NaN}', ["body", "number_of_datapoints"], "int_type"),
    ('{"number_of_datapoints": Infinity}', ["body", "number_of_datapoints"], "int_type"),
    (
        '{"number_of_datapoints": 1000000000000000000000000000000}',
        ["body", "number_of_datapoints"],
        "too_many_datapoints",
    ),
    ('{"number_of_datapoints": 1' + "0" * 400 + "}", ["body", "number_of_datapoints"], "too_many_datapoints"),
    ('{"seed": 1.5}', ["body", "seed"], "int_type"),
    ('{"seed": 12345678901234567890.0}', ["body", "seed"], "int_type"),  # whole, but not exact as a double
    ('{"seed": "42"}', ["body", "seed"], "int_type"),
    ('{"seed": false}', ["body", "seed"], "int_type"),
    ('{"seed": null}', ["body", "seed"], "int_type"),
    (f'{{"seed": {2**256}}}', ["body", "seed"], "seed_out_of_range"),
    (f'{{"seed": {-(2**256)}}}', ["body", "seed"], "seed_out_of_range"),
    ('{"seed": 1' + "0" * 5000 + "}", ["body", "seed"], "seed_out_of_range"),  # beyond int()'s 4300-digit limit
    ("", ["body"], "missing"),
    ("   \n", ["body"], "missing"),
    ("[]", ["body"], "model_type"),
    ("[1, 2]", ["body"], "model_type"),
    ("5", ["body"], "model_type"),
    ('"seed"', ["body"], "model_type"),
    ("null", ["body"], "model_type"),
    ("{", ["body", 1], "json_invalid"),
    ("{'seed': 1}", ["body", 1], "json_invalid"),
    ('{"seed": 1,}', ["body", 11], "json_invalid"),
    ("seed=1&number_of_datapoints=3", ["body", 0], "json_invalid"),
    (b"\xff\xfe\xfa", None, "json_invalid"),
    ("[" * 30_000, ["body"], "json_invalid"),  # too deep for Python's parser: must not be a 500
    ('{"a":' * 6_000, ["body"], "json_invalid"),
]


@pytest.mark.parametrize(
    "body, loc, kind", BAD_BODIES, ids=lambda v: repr(v)[:40] if isinstance(v, str | bytes) else None
)
def test_bad_bodies_answer_422_naming_the_field(client, body, loc, kind):
    response = post_raw(client, body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert len(detail) == 1
    error = detail[0]
    assert set(error) == {"loc", "msg", "type"}
    assert error["type"] == kind
    if loc is not None:
        assert error["loc"] == loc
    assert error["loc"][0] == "body"
    field = loc[1] if loc and len(loc) > 1 and isinstance(loc[1], str) else None
    if field == "seed" and kind == "seed_out_of_range":
        assert error["msg"] == "seed must be an integer with |seed| < 2**256"
    if kind == "too_many_datapoints":
        assert error["msg"] == f"number_of_datapoints must be at most {SMALL_LIMIT}, this server's limit per request"
    assert len(response.content) < 1000  # huge inputs are not echoed back


def test_messages_say_what_is_wrong(client):
    def message(body: str) -> str:
        return post_raw(client, body).json()["detail"][0]["msg"]

    assert message('{"number_of_datapoints": 0}') == "Input should be greater than 0"
    assert message('{"number_of_datapoints": "3"}') == "Input should be a valid integer"
    assert message("") == 'Field required: send a JSON object such as {"seed": 42, "number_of_datapoints": 500}'
    assert message("[]") == 'Input should be a JSON object such as {"seed": 42, "number_of_datapoints": 500}'
    assert message("{") == "JSON decode error: Expecting property name enclosed in double quotes (line 1, column 2)"


def test_all_problems_are_listed_at_once(client):
    response = client.post(DATA, json={"seed": "x", "number_of_datapoints": 0})
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [
        (["body", "seed"], "int_type"),
        (["body", "number_of_datapoints"], "greater_than"),
    ]


def test_default_limit_is_one_million(default_client):
    response = default_client.post(DATA, json={"number_of_datapoints": 1_000_001})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", "number_of_datapoints"],
                "msg": "number_of_datapoints must be at most 1000000, this server's limit per request",
                "type": "too_many_datapoints",
            }
        ]
    }


def test_oversized_body_is_refused_with_413(client):
    body = '{"seed": 1, "padding": "' + "x" * MAX_BODY_BYTES + '"}'
    assert post_raw(client, body).status_code == 413


def test_other_methods_are_not_allowed(client):
    assert client.get(DATA).status_code == 405


def test_parse_data_request_without_a_limit():
    "The validation function is usable on its own; with max_points=None only the type rules apply."
    request = parse_data_request(b'{"number_of_datapoints": 5000000, "seed": -3}', max_points=None)
    assert (request.seed, request.number_of_datapoints) == (-3, 5_000_000)


# ---------------------------------------------------------------------------------------------------------------------
# Schema, docs and the welcome page
# ---------------------------------------------------------------------------------------------------------------------


def test_point_schema(client):
    response = client.get("/api/v1/animals/schema")
    assert response.status_code == 200
    schema = response.json()
    assert schema["type"] == "object"
    assert schema["required"] == ["walks_on_n_legs", "height", "weight", "has_wings", "has_tail"]
    assert {name: field["type"] for name, field in schema["properties"].items()} == {
        "walks_on_n_legs": "integer",
        "height": "number",
        "weight": "number",
        "has_wings": "boolean",
        "has_tail": "boolean",
    }
    assert "metres" in schema["properties"]["height"]["description"]
    assert "kilograms" in schema["properties"]["weight"]["description"]
    assert all(field["description"] for field in schema["properties"].values())


def test_generated_points_satisfy_the_schema(client):
    jsonschema_rs = pytest.importorskip("jsonschema_rs")  # a dev tool; skipped if a leaner venv lacks it

    schema = client.get("/api/v1/animals/schema").json()
    validator = jsonschema_rs.validator_for(schema)
    for point in client.post(DATA, json={"number_of_datapoints": 200}).json():
        validator.validate(point)
    with pytest.raises(jsonschema_rs.ValidationError):
        validator.validate({"walks_on_n_legs": 2, "height": 1.0, "weight": 2.0, "has_wings": False})


def test_openapi_document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {"/api/v1/animals/data", "/api/v1/animals/schema"}
    operation = spec["paths"]["/api/v1/animals/data"]["post"]
    body_schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["properties"]["seed"]["default"] == 42
    assert body_schema["properties"]["number_of_datapoints"]["default"] == 500
    assert body_schema["properties"]["number_of_datapoints"]["maximum"] == SMALL_LIMIT
    assert set(operation["responses"]) == {"200", "422"}
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert client.get("/docs/openapi.json").json() == spec


def test_docs_page_uses_only_local_assets(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "SwaggerUIBundle" in page
    assert not re.search(r"""(?:src|href)=["']https?://""", page), "the docs page must not load anything from the web"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", page)
    assert sorted(assets) == [
        "/static/swagger-ui/favicon-32x32.png",
        "/static/swagger-ui/swagger-ui-bundle.js",
        "/static/swagger-ui/swagger-ui-standalone-preset.js",
        "/static/swagger-ui/swagger-ui.css",
    ]
    expected_types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["content-type"].startswith(expected_types[asset[asset.rindex(".") :]])
        assert len(served.content) > 500


def test_swagger_ui_version_supports_openapi_31(client):
    "Litestar writes OpenAPI 3.1, which Swagger UI renders from version 5 on."
    bundle = client.get("/static/swagger-ui/swagger-ui-bundle.js").text
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert re.search(r'"5\.\d+\.\d+"', bundle)


def test_unknown_assets_are_404(client):
    assert client.get("/static/swagger-ui/swagger-editor-bundle.js").status_code == 404
    assert client.get("/static/swagger-ui/..%2F__init__.py").status_code == 404


def test_welcome_page_links_to_docs(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'href="/docs"' in response.text
    assert "/api/v1/animals/data" in response.text
