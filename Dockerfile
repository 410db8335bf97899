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
# links are built on public_url: set RECORDER_PUBLIC_URL to the address clients use (the Host names below
# serve a container reached on this machine only)
ENV RECORDER_HOST=0.0.0.0 RECORDER_DATA_DIR=/var/lib/recorder RECORDER_ALLOWED_HOSTS='["localhost", "127.0.0.1"]'
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('RECORDER_PORT', '8080'), timeout=4)"
CMD ["recorder-service"]
