"""The pods-in-the-image tests run only when an image is named (scripts/build-image.sh builds it;
.ci/run runs them after the test suite): `make test` does not collect them."""

import os

from test_k8s import kubeconfig  # noqa: F401 (fixture)
from test_postgres import database_url, server_url  # noqa: F401 (fixtures)

IMAGE_ENV = "TRADING_RUNTIME_TEST_IMAGE"

if not os.environ.get(IMAGE_ENV):
    collect_ignore_glob = ["test_*.py"]
