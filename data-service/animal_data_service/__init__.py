"""A drop-in implementation of the public challenge data service: same URLs, shapes and values per seed."""

__version__ = "0.1.0"
