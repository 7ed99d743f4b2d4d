"""Keep google-auth from calling Google hosts in the background.

Runtime code (the push service applies it to its credential): the background lookup is an
optional optimisation of google-auth; without it, sends work the same against real FCM, and
nothing leaves loopback when the SDK is pointed at the loopback FCM server.

google-auth >= 2.55 (checked on 2.62) gives service-account credentials a "Regional Access
Boundary" (RAB) manager. On *every* authorized request,
``Credentials.before_request`` -> ``_after_refresh`` ->
``_maybe_start_regional_access_boundary_refresh`` runs, and unless

* the request URL's host ends with ``.rep.googleapis.com`` (regional endpoint), or
* the credential's ``universe_domain`` is not ``googleapis.com``, or
* the manager already holds a boundary that is still fresh (expiry more than 1 h away) or is
  in a failure cooldown,

it starts a daemon thread that GETs
``https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}/allowedLocations``.
Offline this is a failed DNS lookup in the background (then a 15 min, doubling, cooldown).
There is no environment variable to turn it off (``GOOGLE_AUTH_TRUST_BOUNDARY_ENABLED`` is
documented as deprecated with no effect), and changing ``universe_domain`` would also switch
service accounts to self-signed JWTs (no call to ``token_uri`` at all).

:func:`disable_background_lookups` seeds the credential with the no-op boundary ``"0x0"``
(``google.auth.credentials.NO_OP_TRUST_BOUNDARY_ENCODED_LOCATIONS``) valid until year 9999,
through ``_set_regional_access_boundary`` - the hook google-auth documents as a
backwards-compatible contract (the gcloud CLI uses it). The manager then never considers a
refresh necessary. Side effect: requests carry ``x-allowed-locations: 0x0``. Copies of the
credential (``with_scopes`` etc.) inherit the state.

firebase-admin uses the credential object itself (``Certificate.get_credential()``) for both
its requests and httpx sessions, so calling this once, before the first send, is enough.
"""

from __future__ import annotations

import datetime

__all__ = ["disable_background_lookups"]

_NO_OP_BOUNDARY = "0x0"
# google.auth._helpers.utcnow() is naive UTC, so the expiry must be naive too.
_FAR_FUTURE = datetime.datetime(9999, 1, 1)


def disable_background_lookups(credentials):
    """Stop google-auth's background Regional Access Boundary lookups for ``credentials``.

    ``credentials`` is a google-auth credential or a firebase_admin credential (anything
    with ``get_credential()``). Returns the google-auth credential. A no-op for google-auth
    versions without the feature (< 2.55).
    """
    google_credentials = credentials
    if hasattr(credentials, "get_credential") and not hasattr(credentials, "before_request"):
        google_credentials = credentials.get_credential()
    setter = getattr(google_credentials, "_set_regional_access_boundary", None)
    if setter is not None:
        setter({"encodedLocations": _NO_OP_BOUNDARY, "expiry": _FAR_FUTURE})
    return google_credentials
