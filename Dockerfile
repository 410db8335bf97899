FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api api
COPY recorder recorder
COPY storage_providers storage_providers
COPY schemas schemas
RUN pip install --no-cache-dir . && useradd --system --home /var/lib/recorder recorder \
    && mkdir -p /var/lib/recorder && chown recorder /var/lib/recorder
USER recorder
WORKDIR /var/lib/recorder
ENV RECORDER_HOST=0.0.0.0 RECORDER_DATA_DIR=/var/lib/recorder
EXPOSE 8080
CMD ["recorder-service"]
