"""An S3 server on loopback (moto) for the object-store tests, and a fresh bucket prefix per test.

A pytest plugin (``pytest_plugins`` in tests/conftest.py): the fixtures are everywhere, and
``s3_endpoint`` is module-scoped: one server per test module that uses it. Tests using it are
marked ``slow`` (tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from s3fs import S3FileSystem

BUCKET = "backtests"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3 server on 127.0.0.1 (ephemeral port), credentials in the environment as in a pod."""
    from moto.server import ThreadedMotoServer  # half a second: only where a server starts

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,  # how S3-compatible stores (MinIO, moto) are reached
    }.items():
        patch.setenv(name, value)
    fsspec.config.conf.pop("s3", None)
    # fsspec caches filesystems by their arguments, not by the environment: one made for another
    # module's server (now stopped) would be reused.
    S3FileSystem.clear_instance_cache()
    try:
        yield endpoint
    finally:
        patch.undo()
        server.stop()
        S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3(s3_endpoint: str, request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """A fresh bucket prefix per test, and the s3fs filesystem to inspect it."""
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    prefix = f"{BUCKET}/{request.node.name}"
    yield fs, prefix
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)
