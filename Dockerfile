# syntax=docker/dockerfile:1
# The one heteropool image: `heteropool operator`, `heteropool gateway`, `heteropool sim`, ...
# Build and smoke-test: `make image`, `make image-test` (docs/image.md). A plain engine works too:
#   docker build -t ghcr.io/heteropool/heteropool:0.1.0 .
#
# Base: Debian bookworm slim with Debian's python3. Registries serve it as debian:bookworm-slim;
# where none is reachable, scripts/image.sh debootstraps the same distribution and passes it as
# BASE_IMAGE. Every step below is the same either way.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# --- python: the base, upgraded, with Debian's python3 (both stages start here) ----------------
FROM ${BASE_IMAGE} AS python
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get upgrade -y -q \
 && apt-get install -y -q --no-install-recommends python3 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# --- build: a self-contained virtual environment in /opt/heteropool -------------------------------
FROM python AS build
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/heteropool
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY operator ./operator
# The optional secret `ca-certificates` is a CA bundle for pip, for builds behind a TLS-inspecting
# proxy; release builds pass none. pip's downloads are cached between builds, never in the image.
# Only the runtime dependencies are installed (no extras); pip and setuptools leave the
# environment afterwards, since nothing at run time installs packages.
RUN --mount=type=secret,id=ca-certificates \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi \
 && export PIP_DISABLE_PIP_VERSION_CHECK=1 \
 && /opt/heteropool/bin/pip install --no-compile . \
 && /opt/heteropool/bin/pip uninstall -y -q pip setuptools
# Precompile bytecode: the root filesystem is read-only at run time. Run from / so the source
# folder `operator/` cannot shadow the standard library's `operator` module.
WORKDIR /
RUN /opt/heteropool/bin/python -m compileall -q -j 0 /opt/heteropool/lib

# --- runtime: the python stage plus that environment, as UID 65532 -------------------------------
FROM python
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="heteropool" \
      org.opencontainers.image.description="Heterogeneous LLM inference pools on Kubernetes: operator, gateway, simulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/heteropool/heteropool" \
      org.opencontainers.image.licenses="Apache-2.0"
# A named user for UID 65532: kopf (like much else) asks the passwd database who it runs as.
RUN groupadd --gid 65532 heteropool \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin heteropool
COPY --from=build /opt/heteropool /opt/heteropool
ENV PATH=/opt/heteropool/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
WORKDIR /tmp
# 8000: sim (vLLM API), 8080: gateway / operator liveness, 9090: operator metrics.
EXPOSE 8000 8080 9090
USER 65532:65532
ENTRYPOINT ["heteropool"]
CMD ["--help"]
