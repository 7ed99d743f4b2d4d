"""JSON lines on stdout, with the request id and service name on every line."""

import json
import logging
import traceback
from datetime import UTC, datetime

from notification_common.request_context import get_request_id

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, *args, service: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "service": self.service,
            "request_id": getattr(record, "request_id", None) or get_request_id(),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in payload and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc_info"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(payload, default=str)


class UnavailableIsWarning(logging.Filter):
    """Django logs every 5xx answer at ERROR. A 503 is an answer we chose (an outage of a
    dependency, or load shed with Retry-After; each already logged where it was decided), so
    on ``django.request`` it becomes a WARNING: a broker restart no longer buries the real
    errors under thousands of ERROR lines. Other 5xx stay ERROR."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 503 and record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        return True


def logging_config(*, service: str, level: str = "INFO") -> dict:
    """The LOGGING dict each service's settings use."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "filters": {"unavailable_is_warning": {"()": UnavailableIsWarning}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            "django.server": {"level": "WARNING"},
            "django.request": {"filters": ["unavailable_is_warning"]},
            "pika": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
        },
    }
