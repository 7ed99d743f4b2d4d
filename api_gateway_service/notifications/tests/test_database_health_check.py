"""The gateway's database connections (config/postgresql): no SELECT 1 before each request for
a connection in steady use, checked after an error instead; an idle one is checked first.

The connection goes through a loopback proxy the test cuts and restores: the server is back,
but the connection the gateway holds is gone, as after a PostgreSQL restart.
"""

import pytest
from django.db import OperationalError, close_old_connections, connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


def one_query() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


def server_restarted(database_proxy) -> None:
    database_proxy.cut()
    database_proxy.restore()


def test_a_connection_in_steady_use_is_not_checked_and_an_error_gets_it_replaced(database_proxy, settings):
    settings.GATEWAY_DB_HEALTH_CHECK_IDLE_SECONDS = 3600
    one_query()
    server_restarted(database_proxy)

    close_old_connections()  # a request starts
    with pytest.raises(OperationalError):
        one_query()  # no check first: the request's own query finds the connection gone (a 503)
    close_old_connections()  # that request ends: after an error Django checks and closes it

    close_old_connections()  # the next request
    assert one_query() == 1


def test_an_idle_connection_is_checked_before_the_request_uses_it(database_proxy, settings):
    settings.GATEWAY_DB_HEALTH_CHECK_IDLE_SECONDS = 0  # every connection counts as idle
    one_query()
    server_restarted(database_proxy)

    close_old_connections()  # a request starts: the check finds it gone and reconnects

    assert one_query() == 1


def test_the_gateway_runs_on_its_own_backend():
    assert type(connections["default"]).__module__ == "config.postgresql.base"
    assert connections["default"].settings_dict["CONN_HEALTH_CHECKS"] is True
