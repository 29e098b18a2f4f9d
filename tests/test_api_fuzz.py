"""Fuzz the API from its own OpenAPI spec with schemathesis: no server errors, no answer the spec does not allow."""

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from test_api import AUTH, TOKEN, animal_model, instant_trainer, save_version, serving  # noqa: F401 (a fixture)

from animal_challenge.api import create_app
from animal_challenge.config import Settings
from animal_challenge.model import TRUSTED_TYPES
from animal_challenge.registry import LocalModelStore

# The spec is the one the app serves; reading it needs no server.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(data_dir=tempfile.mkdtemp(), max_batch=100)).openapi_schema.to_schema()
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, animal_model):  # noqa: F811
    "The API on a real server, serving a real model; training jobs store that model again (fuzzing asks for many)."
    tmp = tmp_path_factory.mktemp("fuzz")
    store = LocalModelStore(tmp / "models", trusted=TRUSTED_TYPES)
    save_version(store, animal_model)
    limits = {"rate_predict": 10**6, "rate_batch": 10**6, "rate_feedback": 10**6, "rate_bulk": 10**6}  # a flood
    config = Settings(data_dir=tmp, api_token=TOKEN, max_batch=100, **limits)
    app = create_app(config, store=store, trainer=instant_trainer(animal_model))
    with serving(app) as url:
        # Training only checks that the data service answers HTTP: let the API itself answer.
        app.state.settings = config.model_copy(update={"data_service_url": url})
        yield url


@schema.parametrize()
# Derandomized: the same 40 examples on every run, so CI passes or fails on the code, not on the draw.
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_spec(case, base_url):
    # The admin token replaces whatever token was drawn, so admin routes are reached; a case that leaves the
    # header out on purpose (a negative case) keeps it out, or the API would be blamed for accepting it.
    headers = AUTH if "Authorization" in (case.headers or {}) else {}
    case.call_and_validate(base_url=base_url, headers=headers)
