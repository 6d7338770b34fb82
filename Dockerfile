# The trading-runtime image: one artifact for the Dagster code location (Helm user deployment,
# `dagster api grpc`), the run and step pods the K8sRunLauncher / k8s_job_executor start
# (`dagster api execute_run|execute_step`) and the Argo batch pods (`trading-runtime backtest`).
#
#   docker build --target runtime \
#     --build-arg TRADING_PLATFORM_COMMIT="$(. ./.env && echo "$TRADING_PLATFORM_COMMIT")" \
#     --build-arg GIT_COMMIT="$(git rev-parse HEAD)" \
#     --build-arg GIT_BRANCH="$(git rev-parse --abbrev-ref HEAD)" \
#     -t ghcr.io/trading-engineering/trading-runtime:"$(git rev-parse HEAD)" .
#
# The framework is installed from requirements-framework.txt (the lock plus trading-platform at
# the commit pinned in .env); TRADING_PLATFORM_COMMIT must name that same commit, so the labels
# and the environment cannot claim a framework the image does not contain.
# Kaniko builds this file too (argo/workflowtemplate-build-push.yaml): no BuildKit-only syntax.
#
# Two switches exist for builds without a registry or GitHub (scripts/build-image.sh): BASE_IMAGE
# (a local Debian bookworm base with Python 3.11 at /usr/bin) and INSTALL_FRAMEWORK=false, which
# leaves trading-platform out and requires an empty TRADING_PLATFORM_COMMIT; the labels and
# `trading-runtime info` then say the framework is absent, so such an image never passes for a
# production one.

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder

ARG TRADING_PLATFORM_COMMIT
ARG TRADING_PLATFORM_REPO=https://github.com/trading-engineering/trading-platform.git
ARG INSTALL_FRAMEWORK=true

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# git: pip installs the framework from its repository at the pinned commit.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY requirements-framework.txt ./

# Fail fast, before any download, when the build arg is missing, not a full SHA, or not the pin
# the lock installs (tests/test_image.py runs this snippet against good and bad values).
RUN set -eu; \
    sha="${TRADING_PLATFORM_COMMIT:-}"; \
    case "${INSTALL_FRAMEWORK:-true}" in \
      true) ;; \
      false) \
        if [ -n "$sha" ]; then \
          echo "error: INSTALL_FRAMEWORK=false builds without the framework, so TRADING_PLATFORM_COMMIT must be empty, got '$sha'" >&2; \
          exit 1; \
        fi; \
        echo "framework left out (INSTALL_FRAMEWORK=false): this image is not a production image"; \
        grep -v '^trading-platform @ ' requirements-framework.txt > requirements-image.txt; \
        exit 0 ;; \
      *) \
        echo "error: INSTALL_FRAMEWORK must be true or false, got '${INSTALL_FRAMEWORK}'" >&2; \
        exit 1 ;; \
    esac; \
    if [ -z "$sha" ]; then \
      echo "error: build arg TRADING_PLATFORM_COMMIT is required (the commit in .env)" >&2; \
      exit 1; \
    fi; \
    case "$sha" in \
      *[!0-9a-f]*) bad=1 ;; \
      *) bad=0 ;; \
    esac; \
    if [ "$bad" = 1 ] || [ "${#sha}" -ne 40 ]; then \
      echo "error: TRADING_PLATFORM_COMMIT must be a full 40-character lowercase hex SHA, got '$sha'" >&2; \
      exit 1; \
    fi; \
    pin="trading-platform @ git+${TRADING_PLATFORM_REPO}@${sha}"; \
    if ! grep -qxF "$pin" requirements-framework.txt; then \
      locked="$(grep -E '^trading-platform @' requirements-framework.txt || echo 'no trading-platform line')"; \
      echo "error: TRADING_PLATFORM_COMMIT/TRADING_PLATFORM_REPO give '$pin'," \
        "but requirements-framework.txt pins '$locked' (run scripts/lock.sh after changing .env)" >&2; \
      exit 1; \
    fi; \
    echo "framework pin verified: $pin"; \
    cp requirements-framework.txt requirements-image.txt

# The exact locked versions (requirements-image.txt: the framework lock, without its
# trading-platform line when INSTALL_FRAMEWORK=false), then this package without resolving again.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install -r requirements-image.txt

COPY pyproject.toml README.md LICENSE ./
COPY trading_runtime ./trading_runtime
# This package as a wheel, installed in the runtime stage: /opt/venv above stays unchanged by
# code changes, so the runtime stage's copy of it stays a cached layer (about 2 GB).
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels .


FROM ${BASE_IMAGE} AS runtime

RUN groupadd --gid 10001 app \
    && useradd --uid 10001 --gid 10001 --home-dir /home/app --create-home \
       --shell /usr/sbin/nologin app \
    && install -d -o 10001 -g 10001 /app /opt/dagster/dagster_home

# Same base image and path as the builder: the venv's interpreter links and scripts stay valid.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /wheels /tmp/wheels

ARG INSTALL_FRAMEWORK=true
# The package without resolving anything again, then the checks. From /, so the import check
# loads the installed package.
RUN PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
      /opt/venv/bin/pip install --no-deps /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && /opt/venv/bin/pip check \
    && cd / && /opt/venv/bin/python -c "import trading_runtime.definitions" \
    && if [ "$INSTALL_FRAMEWORK" = true ]; then /opt/venv/bin/python -c "import trading_platform"; fi

WORKDIR /app
# The committed sample parts, so the default TRADING_RUNTIME_PARTS_DIR works in a smoke test.
COPY data/parts ./data/parts

# Declared here, after the heavy layers: a new commit changes only the layers below.
ARG TRADING_PLATFORM_COMMIT
ARG TRADING_PLATFORM_REPO=https://github.com/trading-engineering/trading-platform.git
ARG GIT_COMMIT=
ARG GIT_BRANCH=

# The image tag is the runtime commit, so version and revision are the same string.
LABEL org.opencontainers.image.title="trading-runtime" \
      org.opencontainers.image.description="Dagster runtime for deterministic trading backtests on hftbacktest and trading-platform" \
      org.opencontainers.image.source="https://github.com/trading-engineering/trading-runtime" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.version="${GIT_COMMIT}" \
      io.trading-runtime.git-branch="${GIT_BRANCH}" \
      io.trading-runtime.framework-installed="${INSTALL_FRAMEWORK}" \
      io.trading-runtime.framework-commit="${TRADING_PLATFORM_COMMIT}" \
      io.trading-runtime.framework-repository="${TRADING_PLATFORM_REPO}"

# TRADING_RUNTIME_ENV stays at its default (local): Helm and Argo set k8s together with the
# object-store URLs it requires, and the same image still runs `docker run ... trading-runtime
# backtest` on a laptop. The SHAs go into every result's provenance; pins.py reads the framework
# pin from here because the installed package has no .env beside it. DAGSTER_HOME is the path
# the chart and K8sRunLauncher use by default, writable by the app user.
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRADING_RUNTIME_GIT_COMMIT=${GIT_COMMIT} \
    TRADING_RUNTIME_GIT_BRANCH=${GIT_BRANCH} \
    TRADING_PLATFORM_COMMIT=${TRADING_PLATFORM_COMMIT} \
    TRADING_PLATFORM_REPO=${TRADING_PLATFORM_REPO}

# Numeric, so Kubernetes can verify runAsNonRoot.
USER 10001:10001

# No ENTRYPOINT: the Helm chart sets `args: [dagster, api, grpc, ...]`, the run launcher
# `dagster api execute_run ...`, Argo `command: [trading-runtime]`; all resolve on PATH.
CMD ["trading-runtime", "--help"]
