"""The HTTP API: the public challenge data service's endpoints, request and response shapes, served by Litestar.

`create_app()` builds the app; `animal_data_service.cli` runs it with uvicorn. The values themselves come from
`animal_data_service.generator`.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.datastructures import CacheControlHeader, State
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from litestar.response import File, Stream
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from animal_data_service import DEFAULT_MAX_POINTS, __version__
from animal_data_service.generator import iter_json_chunks

__all__ = [
    "DATA_PATH",
    "DEFAULT_MAX_POINTS",
    "SCHEMA_PATH",
    "SEED_LIMIT",
    "AnimalDataPoint",
    "DataRequest",
    "InvalidDataRequest",
    "create_app",
    "parse_data_request",
]

SEED_LIMIT = 2**256
"Seeds must satisfy `abs(seed) < SEED_LIMIT`; within it every seed gives the same points as Python's `random`."

MAX_BODY_BYTES = 64 * 1024
"Larger request bodies are refused with 413 before they are parsed (a valid body is well under 200 bytes)."

DATA_PATH = "/api/v1/animals/data"
SCHEMA_PATH = "/api/v1/animals/schema"
DOCS_PATH = "/docs"
ASSETS_PATH = "/static/swagger-ui"

_MAX_INT_DIGITS = 100  # longer integer literals in a body are refused without converting them to int


# ---------------------------------------------------------------------------------------------------------------------
# Request and response models
# ---------------------------------------------------------------------------------------------------------------------


class AnimalDataPoint(BaseModel):
    """One unlabeled animal, as the service returns it."""

    walks_on_n_legs: int = Field(description="Number of legs the animal walks on.")
    height: float = Field(description="Height of the animal in metres (m).")
    weight: float = Field(description="Weight of the animal in kilograms (kg).")
    has_wings: bool = Field(description="Whether the animal has wings.")
    has_tail: bool = Field(description="Whether the animal has a tail.")


class _OversizedInt:
    """Stands in for an integer literal too long to be a valid value (parsed as such instead of as an int)."""


def _parse_int_literal(literal: str) -> int | _OversizedInt:
    "`parse_int` for `json.loads`: refuses absurdly long literals before `int()` spends time on them."
    return int(literal) if len(literal) <= _MAX_INT_DIGITS else _OversizedInt()


_EXACT_FLOAT_INTS = 2**53  # every integer up to this is exactly a double, so `3.0` or `1e3` means just that integer


def _parse_float_literal(literal: str) -> int | float:
    """`parse_float` for `json.loads`: a number written with a fraction or exponent whose value is a whole number
    (`3.0`, `1e3`) is that integer, as JSON Schema's "integer" (and the public service) has it; any other stays
    a float and is refused. Whole numbers beyond 2**53 stay floats too: as doubles they may not be what was
    written."""
    value = Decimal(literal)
    if value.is_finite() and value == value.to_integral_value() and abs(value) <= _EXACT_FLOAT_INTS:
        return int(value)
    return float(literal)


class DataRequest(BaseModel):
    """Body of `POST /api/v1/animals/data`. Both fields are optional; unknown fields are ignored."""

    # strict: no "3", true or 1.5 (whole numbers written as 3.0 or 1e3 arrive as ints, see
    # `_parse_float_literal`); extra fields are ignored, as the public (FastAPI) service does.
    model_config = ConfigDict(strict=True, extra="ignore")

    seed: int = Field(
        42,
        description=(
            "Seed of Python's `random` for this request: the same seed always gives the same points. "
            "Any integer with |seed| < 2**256; as with `random.seed`, `seed` and `-seed` give the same points."
        ),
    )
    number_of_datapoints: int = Field(
        500, gt=0, description="How many data points to return: at least 1, at most the server's limit."
    )

    @field_validator("seed", mode="before")
    @classmethod
    def _seed_literal_not_oversized(cls, value: Any) -> Any:
        if isinstance(value, _OversizedInt):
            raise _seed_error()
        return value

    @field_validator("seed")
    @classmethod
    def _seed_within_limit(cls, value: int) -> int:
        if abs(value) >= SEED_LIMIT:
            raise _seed_error()
        return value

    @field_validator("number_of_datapoints", mode="before")
    @classmethod
    def _count_literal_not_oversized(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, _OversizedInt):
            raise _too_many_error(info)
        return value

    @field_validator("number_of_datapoints")
    @classmethod
    def _count_within_limit(cls, value: int, info: ValidationInfo) -> int:
        limit = (info.context or {}).get("max_points")
        if limit is not None and value > limit:
            raise _too_many_error(info)
        return value


def _seed_error() -> PydanticCustomError:
    return PydanticCustomError("seed_out_of_range", "seed must be an integer with |seed| < 2**256")


def _too_many_error(info: ValidationInfo) -> PydanticCustomError:
    limit = (info.context or {}).get("max_points")
    if limit is None:
        return PydanticCustomError("too_many_datapoints", "number_of_datapoints is too large")
    return PydanticCustomError(
        "too_many_datapoints",
        "number_of_datapoints must be at most {max_points}, this server's limit per request",
        {"max_points": limit},
    )


class ErrorDetail(BaseModel):
    """One problem with a request body (FastAPI's shape)."""

    loc: list[str | int] = Field(description='Where the problem is, e.g. ["body", "number_of_datapoints"].')
    msg: str = Field(description="What is wrong, for a person to read.")
    type: str = Field(description="Machine-readable kind of problem, e.g. `greater_than` or `int_type`.")


class ValidationErrorBody(BaseModel):
    """Body of a 422 answer."""

    detail: list[ErrorDetail]


class InvalidDataRequest(Exception):
    """A request body that cannot be served; `errors` are `ErrorDetail`-shaped dicts. Answered with 422."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


_EXAMPLE_BODY = '{"seed": 42, "number_of_datapoints": 500}'


def parse_data_request(
    raw: bytes,  # the request body as received
    max_points: int | None = DEFAULT_MAX_POINTS,  # refuse more points than this (None: no limit)
) -> DataRequest:
    """Validate a data request body; raise `InvalidDataRequest` with FastAPI-shaped errors if it is not valid.

    The body is parsed with Python's own JSON parser so that any integer seed a Python client can send is read
    exactly (no 64-bit limit), then validated strictly.
    """
    if not raw.strip():
        raise InvalidDataRequest(
            [{"loc": ["body"], "msg": f"Field required: send a JSON object such as {_EXAMPLE_BODY}", "type": "missing"}]
        )
    try:
        document = json.loads(raw, parse_int=_parse_int_literal, parse_float=_parse_float_literal)
    except UnicodeDecodeError as error:
        raise InvalidDataRequest(
            [{"loc": ["body"], "msg": f"Body is not UTF-8 encoded JSON: {error.reason}", "type": "json_invalid"}]
        ) from None
    except RecursionError:  # e.g. thousands of nested brackets: Python's parser gives up, the service must not
        raise InvalidDataRequest(
            [{"loc": ["body"], "msg": "JSON decode error: nested too deeply", "type": "json_invalid"}]
        ) from None
    except json.JSONDecodeError as error:
        raise InvalidDataRequest(
            [
                {
                    "loc": ["body", error.pos],
                    "msg": f"JSON decode error: {error.msg} (line {error.lineno}, column {error.colno})",
                    "type": "json_invalid",
                }
            ]
        ) from None
    try:
        return DataRequest.model_validate(document, context={"max_points": max_points})
    except ValidationError as error:
        raise InvalidDataRequest([_error_detail(item) for item in error.errors()]) from None


def _error_detail(error: Any) -> dict[str, Any]:
    "A pydantic error as FastAPI shows it: located in the body, without the (possibly huge) input."
    message = error["msg"]
    if error["type"] in {"model_type", "dict_type", "model_attributes_type"}:
        message = f"Input should be a JSON object such as {_EXAMPLE_BODY}"
    return {"loc": ["body", *error["loc"]], "msg": message, "type": error["type"]}


# ---------------------------------------------------------------------------------------------------------------------
# Handlers
# ---------------------------------------------------------------------------------------------------------------------

_WELCOME_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Animal data service</title></head>
<body>
<h1>Animal data service</h1>
<p>Unlabeled animal data points for the animal challenge: the same values for the same seed as the public
challenge data service.</p>
<ul>
<li><a href="{DOCS_PATH}">Interactive API documentation</a></li>
<li><a href="/openapi.json">OpenAPI document</a></li>
<li><a href="{SCHEMA_PATH}">JSON Schema of a data point</a></li>
</ul>
<p>Try it:</p>
<pre>curl -X POST http://HOST:PORT{DATA_PATH} -H 'Content-Type: application/json' \\
     -d '{{"seed": 42, "number_of_datapoints": 3}}'</pre>
</body>
</html>
"""


@get("/", media_type=MediaType.HTML, include_in_schema=False, sync_to_thread=False)
def welcome_page() -> str:
    "A small HTML page that links to the API documentation."
    return _WELCOME_PAGE


_POINT_SCHEMA = {"$schema": "https://json-schema.org/draft/2020-12/schema", **AnimalDataPoint.model_json_schema()}


@get(
    SCHEMA_PATH,
    sync_to_thread=False,
    summary="JSON Schema of one data point",
    description="The JSON Schema (draft 2020-12) that every element of the data endpoint's answer satisfies.",
    tags=["animals"],
)
def point_schema() -> dict[str, Any]:
    "The JSON Schema of one data point."
    return _POINT_SCHEMA


async def animal_data(request: Request) -> Stream:
    "Stream the data points for the request body's seed (see `create_app` for the OpenAPI description)."
    data_request = parse_data_request(await request.body(), request.app.state.max_points)
    # Validation is done before the first byte is sent, so errors still get a proper 422. The body is then
    # streamed batch by batch: memory does not grow with the count.
    chunks = iter_json_chunks(data_request.seed, data_request.number_of_datapoints)
    return Stream(_on_event_loop(chunks), media_type=MediaType.JSON)


async def _on_event_loop(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Produce each chunk on the event loop thread, yielding to other tasks between chunks.

    A chunk takes a few milliseconds. Litestar would otherwise pull a sync iterator through a thread pool, one
    `next()` per chunk on whichever worker is free; every worker thread then gets its own malloc arena, and the
    server's peak memory creeps up with the number of chunks. On the loop it stays flat.
    """
    for chunk in chunks:
        yield chunk
        await anyio.sleep(0)  # let health checks and other requests in between chunks


@get("/openapi.json", include_in_schema=False, sync_to_thread=False)
def openapi_document(request: Request) -> dict[str, Any]:
    "The OpenAPI document (also served by Litestar at /docs/openapi.json)."
    return request.app.openapi_schema.to_schema()


def _swagger_ui_dir() -> Path:
    "Where the `swagger-ui-py` package keeps the Swagger UI dist files (found without importing the package)."
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The Swagger UI files are missing: install the PyPI package swagger-ui-py")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


_SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@get(
    f"{ASSETS_PATH}/{{name:str}}",
    include_in_schema=False,
    sync_to_thread=False,
    cache_control=CacheControlHeader(public=True, max_age=24 * 3600),
)
def swagger_asset(name: FromPath[str]) -> File:
    "The Swagger UI files `/docs` loads, served by this service so the docs work without internet access."
    if name not in _SWAGGER_ASSETS:
        raise NotFoundException(f"No such documentation asset: {name}")
    return File(
        path=_swagger_ui_dir() / name,
        filename=name,
        media_type=_SWAGGER_ASSETS[name],
        content_disposition_type="inline",
    )


def _invalid_request_response(request: Request, error: InvalidDataRequest) -> Response[dict[str, Any]]:
    return Response({"detail": error.errors}, status_code=422, media_type=MediaType.JSON)


# ---------------------------------------------------------------------------------------------------------------------
# OpenAPI description of the data endpoint (its body is parsed by hand, so Litestar cannot infer it)
# ---------------------------------------------------------------------------------------------------------------------


def _request_body(max_points: int) -> RequestBody:
    fields = DataRequest.model_fields
    return RequestBody(
        required=True,
        description="Which points to generate. Both fields are optional; send `{}` for the defaults.",
        content={
            MediaType.JSON: OpenAPIMediaType(
                schema=Schema(
                    type=OpenAPIType.OBJECT,
                    title="DataRequest",
                    properties={
                        "seed": Schema(
                            type=OpenAPIType.INTEGER,
                            default=fields["seed"].default,
                            description=fields["seed"].description,
                            minimum=-(SEED_LIMIT - 1),
                            maximum=SEED_LIMIT - 1,
                        ),
                        "number_of_datapoints": Schema(
                            type=OpenAPIType.INTEGER,
                            default=fields["number_of_datapoints"].default,
                            description=fields["number_of_datapoints"].description,
                            minimum=1,
                            maximum=max_points,
                        ),
                    },
                    examples=[{"seed": 42, "number_of_datapoints": 3}],
                )
            )
        },
    )


def _data_operation_class(max_points: int) -> type[Operation]:
    "An `Operation` whose request body is the hand-written description of `DataRequest`."
    request_body = _request_body(max_points)

    @dataclass
    class DataOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = request_body

    return DataOperation


_DATA_DESCRIPTION = """Unlabeled animal data points, generated from `seed` exactly as the public challenge data service
does: Python's `random` is seeded with `seed` for every request, so the same body always gives the same points.

About 5 % of the points are noise. At most {max_points} points per request (this server's limit); more answer 422.
"""


# ---------------------------------------------------------------------------------------------------------------------
# The app
# ---------------------------------------------------------------------------------------------------------------------


def create_app(
    max_points: int = DEFAULT_MAX_POINTS,  # largest `number_of_datapoints` one request may ask for
) -> Litestar:
    "The data service as a Litestar app (ASGI), e.g. for `uvicorn` or `litestar.testing.TestClient`."
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    data_handler = post(
        DATA_PATH,
        status_code=200,  # a computation that creates nothing: 200, not Litestar's default 201
        media_type=MediaType.JSON,
        summary="Generate data points",
        description=_DATA_DESCRIPTION.format(max_points=max_points),
        tags=["animals"],
        operation_class=_data_operation_class(max_points),
        responses={
            200: ResponseSpec(
                data_container=list[AnimalDataPoint],
                description="The data points, as a JSON array",
                generate_examples=False,
            ),
            422: ResponseSpec(
                data_container=ValidationErrorBody,
                description="The body is not valid: `detail` says which field and why",
                generate_examples=False,
            ),
        },
    )(animal_data)
    assets = f"{ASSETS_PATH}/"
    return Litestar(
        route_handlers=[welcome_page, point_schema, data_handler, openapi_document, swagger_asset],
        openapi_config=OpenAPIConfig(
            title="Animal data service",
            version=__version__,
            description="Unlabeled animal data points for the animal challenge (a drop-in for the public service).",
            path=DOCS_PATH,
            render_plugins=[
                SwaggerRenderPlugin(
                    path="/",
                    js_url=assets + "swagger-ui-bundle.js",
                    css_url=assets + "swagger-ui.css",
                    standalone_preset_js_url=assets + "swagger-ui-standalone-preset.js",
                    favicon=f"<link rel='icon' type='image/png' href='{assets}favicon-32x32.png'>",
                )
            ],
        ),
        exception_handlers={InvalidDataRequest: _invalid_request_response},
        request_max_body_size=MAX_BODY_BYTES,
        state=State({"max_points": max_points}),
    )
