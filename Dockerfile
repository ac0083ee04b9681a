# syntax=docker/dockerfile:1
# mimecast-siem container image.
# Linted in CI with hadolint; not built there (no Docker engine on the CI machines).
# Build and push: scripts/build-image.sh (docker, podman or buildah); docs/operations.md "Container image".

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build stage: a virtualenv with the package and its pinned dependencies ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY constraints.txt pyproject.toml README.md ./
COPY mimecast_siem ./mimecast_siem
RUN /opt/venv/bin/pip install --constraint constraints.txt ".[postgres]" \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && /opt/venv/bin/python -m compileall -q /opt/venv

# --- runtime stage: no compilers, no pip cache, non-root, read-only root filesystem friendly -------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="mimecast-siem" \
      org.opencontainers.image.description="Mimecast API 2.0 security logs to SIEMs, plus response actions" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/mimecast-siem/mimecast-siem"
# No package manager at run time: the base image's pip, setuptools and wheel go (the venv has none either).
RUN python -m pip uninstall --yes --no-input pip setuptools wheel \
 && groupadd --system --gid 10001 mimecast \
 && useradd --system --uid 10001 --gid mimecast --home-dir /var/lib/mimecast-siem --no-create-home \
            --shell /usr/sbin/nologin mimecast \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/mimecast-siem
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MIMECAST_SIEM_DEFAULT__DATA_DIR=/var/lib/mimecast-siem \
    MIMECAST_SIEM_DEFAULT__SERVER__HOST=0.0.0.0 \
    MIMECAST_SIEM_DEFAULT__SERVER__PORT=9108
USER 10001:10001
WORKDIR /var/lib/mimecast-siem
VOLUME ["/var/lib/mimecast-siem"]
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
ENTRYPOINT ["mimecast-siem"]
CMD ["run"]
