"""Django's PostgreSQL backend, health-checking a connection only after it sat idle.

With ``CONN_HEALTH_CHECKS`` Django sends ``SELECT 1`` before the first query of every request:
a round trip and about 3 % of an accepted notification's CPU in the gateway. A connection that
ran a query less than ``GATEWAY_DB_HEALTH_CHECK_IDLE_SECONDS`` ago is trusted instead. If the
server went away in that moment, the request's own query fails and is answered 503 with
Retry-After like any database outage, and Django checks and closes the connection at the end
of that request (it does so after any error), so the next request connects afresh
(docs/api_gateway.md, "Database connections"). A connection idle for longer is checked as
before. 0 checks before every request, as Django does.
"""

import time

from django.conf import settings
from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    _used_at = float("-inf")  # monotonic time of the connection's last cursor

    def create_cursor(self, name=None):
        self._used_at = time.monotonic()
        return super().create_cursor(name)

    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and not self.health_check_done
            and time.monotonic() - self._used_at < settings.GATEWAY_DB_HEALTH_CHECK_IDLE_SECONDS
        ):
            self.health_check_done = True  # in steady use: its next query is the check
            return
        super().close_if_health_check_failed()
