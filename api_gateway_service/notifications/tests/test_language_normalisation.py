"""The gateway spells a language the way the template service and the consumers do (BCP 47 case)."""

import pytest

from notification_devtools.testing import assert_envelope
from notifications.tests.conftest import notification_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("given", "stored"),
    [("zh-hant-tw", "zh-Hant-TW"), ("ZH_HANT", "zh-Hant"), ("es-419", "es-419"), ("PT-br", "pt-BR")],
)
def test_script_is_title_case_and_region_upper_case(send, user_service, given, stored):
    user_id = user_service.add_user()

    data = assert_envelope(send(notification_body(user_id, language=given)), status=202)["data"]

    assert data["language"] == stored


def test_one_request_spelled_two_ways_is_a_duplicate_not_a_conflict(send, user_service):
    user_id = user_service.add_user()
    first = assert_envelope(send(notification_body(user_id, request_id="lang-1", language="zh-hant")), status=202)

    again = send(notification_body(user_id, request_id="lang-1", language="ZH-Hant"))

    assert assert_envelope(again, status=200)["data"]["notification_id"] == first["data"]["notification_id"]
