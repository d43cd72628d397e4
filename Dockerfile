# syntax=docker/dockerfile:1
# ibpicker's container image: the bot (`ibpicker bot`) on a slim Python 3.11, run as a non-root
# numeric user, data under /data. Built by the workflow's docker job (`az acr build`), linted here
# by hadolint (tests/integration/infra). Dependencies come from the hash-pinned lock files, so a
# rebuild of the same commit installs the same bytes; docs/deploy.md says how to refresh them.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: resolve nothing, install the locked wheels, build the project's own wheel --------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /build

# The build backend (hatchling) goes into the builder's own interpreter, never into the runtime.
COPY requirements-build.lock ./
RUN python -m pip install --no-deps --require-hashes -r requirements-build.lock

# The runtime venv has no pip of its own: the builder's pip installs into it (--python).
COPY requirements.lock ./
RUN python -m venv --without-pip /opt/venv \
    && python -m pip --python /opt/venv/bin/python install --no-deps --require-hashes -r requirements.lock

# Source last: a code change rebuilds only the layers below.
COPY pyproject.toml README.md ./
COPY events/ events/
COPY projections/ projections/
COPY commands/ commands/
COPY fetchers/ fetchers/
COPY analysis/ analysis/
COPY sync/ sync/
COPY bot.py cli.py cli_options.py settings.py logs.py ./
RUN python -m pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && python -m pip --python /opt/venv/bin/python install --no-deps /wheels/*.whl

# --- runtime: the venv and nothing else ----------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# The commit the image was built from (the docker job passes it), readable with `docker inspect`.
ARG GIT_SHA=unknown
LABEL org.opencontainers.image.title="ibpicker" \
      org.opencontainers.image.revision="${GIT_SHA}"

# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (the event loop, the journal writer,
# DuckDB's and the loader's threads) an arena of its own and keeps what they free; two arenas
# cut the bot's peak RSS by ~27 MiB in benchmarks/bot.py (334 -> 307 MiB), at no measured cost.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MALLOC_ARENA_MAX=2 \
    IBPICKER_DATA_DIR=/data

# A numeric uid/gid so the platform (and hadolint) can tell it is not root without /etc/passwd.
RUN groupadd --system --gid 10001 ibpicker \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ibpicker \
    && mkdir -p /data \
    && chown 10001:10001 /data

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080

# The bot flushes its journal to a final segment and releases the writer lease on SIGTERM,
# which is what Container Apps sends on a revision switch or scale-in.
STOPSIGNAL SIGTERM

# slim has no curl: python's urllib raises (exit 1) on a refused connection or a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

ENTRYPOINT ["ibpicker"]
CMD ["bot"]
