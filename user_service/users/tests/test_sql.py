"""The delivery path's prepared statements (users/sql.py): prepared on the connection, prepared
again on a new connection after the old one broke, and a broken connection is a 503."""

import pytest
from django.db import close_old_connections, connection

from notification_devtools.testing import assert_envelope
from users.selectors import user_profile_get
from users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_the_user_lookup_is_prepared_once_on_the_connection():
    user = UserFactory()

    for _ in range(3):
        assert user_profile_get(user_id=user.id)["id"] == str(user.id)

    assert len([s for s in prepared_statements() if "LEFT JOIN users_device" in s]) == 1


def test_after_a_server_restart_the_next_request_prepares_it_again_on_a_new_connection(database_proxy):
    user = UserFactory()
    user_profile_get(user_id=user.id)
    database_proxy.cut()  # the connection the service holds is gone, as after a restart
    database_proxy.restore()

    close_old_connections()  # a request starts: the health check replaces the connection

    assert user_profile_get(user_id=user.id)["id"] == str(user.id)
    assert any("LEFT JOIN users_device" in s for s in prepared_statements())


def test_a_lookup_with_the_database_unreachable_answers_503(database_proxy, internal_client):
    user = UserFactory()
    assert_envelope(internal_client.get(f"/api/v1/users/{user.id}/"), status=200)
    database_proxy.cut()

    response = internal_client.get(f"/api/v1/users/{user.id}/")

    assert_envelope(response, status=503)
    assert response.headers.get("Retry-After")
