"""Log levels of answers: a 503 we chose is a warning on django.request, other 5xx stay errors."""

import logging
import logging.config

import pytest
from django.utils.log import log_response

from notification_common.logging import logging_config


@pytest.fixture
def configured(caplog):
    """The services' LOGGING dict applied, with pytest's capture on the root logger."""
    logging.config.dictConfig(logging_config(service="test", level="INFO"))
    logging.getLogger().addHandler(caplog.handler)
    yield caplog
    logging.getLogger().removeHandler(caplog.handler)


class _Response:
    def __init__(self, status_code: int):
        self.status_code = status_code
        self.reason_phrase = "Service Unavailable" if status_code == 503 else "Internal Server Error"


class _Request:
    path = "/api/v1/notifications/"


@pytest.mark.parametrize(("status_code", "level"), [(503, logging.WARNING), (500, logging.ERROR), (502, logging.ERROR)])
def test_django_logs_a_503_as_a_warning_and_other_5xx_as_errors(configured, status_code, level):
    # When Django logs an answer of this status the way its request handler does
    log_response(
        "%s: %s",
        _Response(status_code).reason_phrase,
        _Request.path,
        response=_Response(status_code),
        request=_Request(),
    )

    # Then the record carries the level for its status
    [record] = [r for r in configured.records if r.name == "django.request"]
    assert record.levelno == level
    assert record.levelname == logging.getLevelName(level)
