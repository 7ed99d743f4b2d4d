"""Real protocol servers on loopback for tests, benchmarks, e2e and ``make dev``.

* :mod:`.smtp` - ``LoopbackSMTPServer`` (aiosmtpd; needs the dev dependency ``aiosmtpd``)
* :mod:`.fcm` - ``LoopbackFCMServer`` (FCM HTTP v1 send API + OAuth2 token endpoint)
* :mod:`.service_account` - ``write_service_account`` (key file pointing at the loopback)
* :mod:`.outage` - ``TimedOutage`` (the timed provider outage both servers script)

Names are imported lazily so that using one server does not require the other's
dependencies. No Django here.
"""

from __future__ import annotations

import importlib

__all__ = [
    "LoopbackFCMServer",
    "LoopbackSMTPServer",
    "ReceivedMessage",
    "generate_service_account",
    "write_service_account",
]

_LAZY = {
    "LoopbackSMTPServer": "smtp",
    "ReceivedMessage": "smtp",
    "LoopbackFCMServer": "fcm",
    "write_service_account": "service_account",
    "generate_service_account": "service_account",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
