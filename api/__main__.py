"""`recorder-service`: run the service on its settings (environment and RECORDER_CONFIG_FILE)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from aiohttp import web

from api import server
from api.app import create_app
from recorder import logcontext
from recorder.settings import Settings


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in logcontext.FIELDS:  # the ids of what was being worked on (recorder.logcontext)
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    server.install(settings.request_header_timeout_seconds)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, access_log=None)


if __name__ == "__main__":
    main()
