# syntax=docker/dockerfile:1
# One image for every process of the system: the command picks which (see ops/processes.py).
#   docker build -t medins .
#   docker run medins services.registration          # or workers.outbox_relay insurance, ...
# The entrypoint is `python -m`, so the command is a module name and its arguments.
#
# The base is a build argument: the official Python image by default, or any Debian-like image whose
# `python3` is 3.11 or 3.12 with its venv module and CA certificates, e.g. the one `make image` builds
# from Debian's packages on a machine that reaches no image registry:
#   podman build --isolation chroot --build-arg PYTHON_IMAGE=localhost/medins-base:bookworm -t medins .

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: locked dependencies and the generated protobuf code -----------------------------------
FROM ${PYTHON_IMAGE} AS build
# The same uv as the Makefile's UV_VERSION, so the lock file is read the same way.
ARG UV_VERSION=0.13.8
# The base's own python3 (the official image's /usr/local/bin, Debian's /usr/bin), never a download.
# Certificates from the system store (a site's TLS-intercepting proxy CA included, when the base has it).
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system \
    UV_PYTHON=python3 \
    UV_NATIVE_TLS=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# uv in a venv of its own: a distribution's python3 refuses a system-wide pip install (PEP 668).
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}"
ENV PATH=/opt/uv/bin:$PATH
WORKDIR /src
COPY pyproject.toml uv.lock ./
# The code generator needs the dev group (grpcio-tools, mypy-protobuf); it stays in this stage.
RUN UV_PROJECT_ENVIRONMENT=/src/.venv uv sync --frozen --no-install-project
# The runtime environment: the locked runtime dependencies only, no dev group, no project build.
RUN UV_PROJECT_ENVIRONMENT=/opt/venv uv sync --frozen --no-install-project --no-dev
COPY protos protos
COPY ops/__init__.py ops/codegen.py ops/
# Exactly what `make gen` runs, into /src/gen.
RUN /src/.venv/bin/python -m ops.codegen

# --- runtime: slim, non-root, no compiler, no uv --------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 medins \
 && useradd --system --uid 10001 --gid medins --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin medins
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /src/gen /app/gen
COPY services services
COPY workers workers
COPY ops ops
COPY deploy/migrations deploy/migrations
# Compiled now: the root file system is read-only at run time (Kubernetes readOnlyRootFilesystem).
RUN python3 -m compileall -q services workers ops
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app:/app/gen \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MEDINS_LISTEN_HOST=0.0.0.0
USER 10001:10001
EXPOSE 50051 50052 50053
ENTRYPOINT ["python", "-m"]
# Without a command the image runs every process under the supervisor (a one-container demo).
CMD ["ops.supervisor"]
