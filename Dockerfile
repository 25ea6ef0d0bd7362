# harborlite in production: one process; the registry, PostgreSQL and Redis run beside it
# (see docker-compose.yml). Not built by the tests: this machine has no Docker engine.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY harborlite ./harborlite
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN pip install --no-cache-dir . && useradd --system --home /data harborlite \
    && mkdir -p /data && chown harborlite /data
USER harborlite
ENV HARBORLITE_DATA_DIR=/data HARBORLITE_HOST=0.0.0.0 HARBORLITE_PORT=8080
EXPOSE 8080
CMD ["harborlite", "serve"]
