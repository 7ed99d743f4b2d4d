"""The current request id, carried in a context variable so logs, outbound calls and
queue messages all see the id of the request (or message) being handled."""

import contextvars
import re
import uuid

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_VALID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def clean_request_id(raw: str | None) -> str:
    """Accept a client's id when it is a sane token; otherwise make a new one."""
    if raw and _VALID.match(raw):
        return raw
    return uuid.uuid4().hex


class request_id_scope:
    """``with request_id_scope(id):`` sets the id for a block (consumers use it per message)."""

    def __init__(self, value: str | None):
        self.value = value or uuid.uuid4().hex

    def __enter__(self) -> str:
        self._token = set_request_id(self.value)
        return self.value

    def __exit__(self, *exc) -> None:
        reset_request_id(self._token)
