"""A drop-in implementation of the public challenge data service: same URLs, shapes and values per seed."""

__version__ = "0.1.0"

DEFAULT_MAX_POINTS = 1_000_000
"Default limit of `number_of_datapoints` per request (`create_app(max_points=...)`, `run --max-points`)."
