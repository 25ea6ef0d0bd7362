# harborlite's image: one process, `harborlite serve` on port 8080, its data folder in /data,
# run as the unprivileged user harborlite (uid and gid 10001: chown a bind-mounted /data to it). In production the registry, PostgreSQL and Redis run
# beside it (see docker-compose.yml).
#
#   docker build -t harborlite .
#   docker build --build-arg BASE_IMAGE=python:3.12-slim -t harborlite .
#
# BASE_IMAGE is any Debian-like image with python3 (3.11 or later) and its venv module:
# python:3.11-slim (the default), or Debian bookworm with Debian's python3 and python3-venv.
# harborlite goes into a virtualenv in /opt/harborlite, so a Debian python3 that refuses a
# system-wide pip install (PEP 668) works too. `pip install` fetches the dependencies from PyPI:
# the base must trust the network the build runs on.
#
# The suite builds this file (tests/e2e/test_image.py) on a Debian bookworm base it makes with
# debootstrap, runs the image with --network host in front of a separate registry, and pushes
# and pulls through it with docker.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
COPY pyproject.toml README.md /src/
COPY harborlite /src/harborlite
COPY migrations /src/migrations
COPY templates /src/templates
COPY static /src/static
RUN python3 -m venv /opt/harborlite \
    && /opt/harborlite/bin/pip install --no-cache-dir --disable-pip-version-check /src \
    && rm -rf /src \
    && useradd --system --uid 10001 --user-group --home /data harborlite && mkdir -p /data && chown harborlite /data
USER harborlite
WORKDIR /data
ENV PATH=/opt/harborlite/bin:$PATH \
    HARBORLITE_DATA_DIR=/data HARBORLITE_HOST=0.0.0.0 HARBORLITE_PORT=8080
EXPOSE 8080
CMD ["harborlite", "serve"]
