"""The template service's active-version endpoint over a loopback HTTP server, for the
consumers' tests (the e2e suite and ``test_template_versions`` use the real service).

It serves raw versions with the service's language fallback (``pt-BR -> pt -> default``);
the consumers render them with the real renderer.
"""

from __future__ import annotations

import threading
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

from notification_common.rendering import CHANNEL_FIELDS
from notification_common.template_versions import ACTIVE_VERSION_PATH
from notification_devtools.testing.http import StubHTTPServer

_PREFIX, _SUFFIX = ACTIVE_VERSION_PATH.split("{code}")


def _envelope(data=None, *, error=None, message="") -> dict:
    return {"success": error is None, "data": data, "error": error, "message": message, "meta": None}


class TemplateServiceStub:
    """``templates[code][language] = {"version", "channel", <fields>}``; ``calls`` are the fetches.

    ``hold(when)`` makes fetches for which ``when(code)`` is true wait until the returned
    event is set; ``delay_seconds`` slows every fetch.
    """

    def __init__(self, server: StubHTTPServer, *, channel: str = "email", default_language: str = "en"):
        self.server = server
        self.channel = channel  # of the templates added without one
        self.default_language = default_language
        self.templates: dict[str, dict[str, dict]] = {}
        self.template_ids: dict[str, str] = {}
        self.delay_seconds = 0.0
        self._holds: list[tuple] = []
        self._lock = threading.Lock()

    def add(self, code: str, language: str = "en", *, version: int = 1, channel: str | None = None, **fields) -> None:
        """Add (or replace: a new active version) the version of ``code`` in ``language``."""
        version_fields = {"version": version, "channel": channel or self.channel, **fields}
        self.templates.setdefault(code, {})[language] = version_fields
        self.template_ids.setdefault(code, str(uuid.uuid4()))
        self.server.route("GET", ACTIVE_VERSION_PATH.format(code=code), self.answer)

    def remove(self, code: str) -> None:
        self.templates.pop(code, None)
        self.template_ids.pop(code, None)

    def hold(self, when) -> threading.Event:
        release = threading.Event()
        with self._lock:
            self._holds.append((when, release))
        return release

    @property
    def calls(self) -> list[dict]:
        with self.server._lock:
            return [
                request
                for request in self.server.requests
                if request["method"] == "GET"
                and request["path"].startswith(_PREFIX)
                and request["path"].endswith(_SUFFIX)
            ]

    @staticmethod
    def params_of(request: dict) -> dict:
        return {name: values[-1] for name, values in parse_qs(urlsplit(request["full_path"]).query).items()}

    def answer(self, request: dict):
        code = unquote(request["path"][len(_PREFIX) : -len(_SUFFIX)])
        if self.delay_seconds:
            threading.Event().wait(self.delay_seconds)
        with self._lock:
            holds = [release for when, release in self._holds if when(code)]
        for release in holds:
            release.wait(10)
        params = self.params_of(request)
        languages = self.templates.get(code)
        if not languages:
            return 404, _envelope(error="template_not_found", message=f"Template {code!r} does not exist.")
        default = self.default_language if self.default_language in languages else next(iter(languages))
        requested = params.get("language") or default
        chain = ["-".join(requested.split("-")[:end]) for end in range(len(requested.split("-")), 0, -1)]
        used = next((language for language in [*chain, default] if language in languages), default)
        version = languages[used]
        if "version" in params and int(params["version"]) != version["version"]:
            return 404, _envelope(error="version_not_found", message="No such version.")
        channel = version["channel"]
        fields = {field: version.get(field) or "" for field in CHANNEL_FIELDS[channel]}
        if channel == "push":
            fields["data"] = dict(version.get("data") or {})
        return 200, _envelope(
            {
                "template_id": self.template_ids[code],
                "template_code": code,
                "channel": channel,
                "default_language": default,
                "requested_language": requested,
                "language": used,
                "version": version["version"],
                **fields,
            }
        )
