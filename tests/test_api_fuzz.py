"""Fuzz the API from its own OpenAPI spec with schemathesis: no server errors, no answer the spec does not allow."""

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from test_api import AUTH, TOKEN, TRUSTED, fake_trainer, save_version, serving

from animal_challenge.api import create_app
from animal_challenge.config import Settings
from animal_challenge.registry import LocalModelStore


def api(tmp) -> tuple:
    "The app under test: a stored fake model, a token, a small batch limit."
    store = LocalModelStore(tmp / "models", trusted=TRUSTED)
    save_version(store)
    config = Settings(data_dir=tmp, api_token=TOKEN, max_batch=100)
    return create_app(config, store=store, trainer=fake_trainer, trusted=TRUSTED), config


# The spec is the one the app serves; reading it needs no server.
schema = schemathesis.openapi.from_dict(
    create_app(Settings(data_dir=tempfile.mkdtemp(), max_batch=100)).openapi_schema.to_schema()
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    app, config = api(tmp_path_factory.mktemp("fuzz"))
    with serving(app) as url:
        # Training only checks that the data service answers HTTP: let the API itself answer.
        app.state.settings = config.model_copy(update={"data_service_url": url})
        yield url


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_spec(case, base_url):
    case.call_and_validate(base_url=base_url, headers=AUTH)
