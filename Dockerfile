# syntax=docker/dockerfile:1
# The one heteropool image: `heteropool operator`, `heteropool gateway`, `heteropool sim`, ...
# Build:  docker build -t ghcr.io/heteropool/heteropool:0.1.0 .
# (CI has no Docker engine; hack/kind-e2e.sh builds and loads it into a kind cluster.)

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

# --- build: a self-contained virtual environment in /opt/heteropool -------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/heteropool
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY operator ./operator
RUN /opt/heteropool/bin/pip install --no-compile .
# Precompile bytecode: the root filesystem is read-only at run time. Run from / so the source
# folder `operator/` cannot shadow the standard library's `operator` module.
WORKDIR /
RUN /opt/heteropool/bin/python -m compileall -q -j 0 /opt/heteropool/lib

# --- runtime: the slim Python base plus that environment, as UID 65532 -------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="heteropool" \
      org.opencontainers.image.description="Heterogeneous LLM inference pools on Kubernetes: operator, gateway, simulator" \
      org.opencontainers.image.source="https://github.com/heteropool/heteropool" \
      org.opencontainers.image.licenses="Apache-2.0"
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
