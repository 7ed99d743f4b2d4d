"""The Django admin lists deliveries (attempts inline) and attempts."""

import pytest

from emails.tests.factories import DeliveredEmailFactory, EmailAttemptFactory

pytestmark = pytest.mark.django_db


def test_delivery_list_and_page_with_attempts_inline_render(admin_client):
    attempt = EmailAttemptFactory(delivery=DeliveredEmailFactory(recipient="ada@example.com"), smtp_code=250)

    listing = admin_client.get("/admin/emails/emailnotification/?status__exact=delivered")
    page = admin_client.get(f"/admin/emails/emailnotification/{attempt.delivery.pk}/change/")

    assert listing.status_code == 200 and b"ada@example.com" in listing.content
    assert page.status_code == 200 and b"250" in page.content


def test_attempt_list_renders(admin_client):
    EmailAttemptFactory(error="smtp_temporary_failure: 451 Try again later")

    response = admin_client.get("/admin/emails/emailattempt/?q=451")

    assert response.status_code == 200
    assert b"smtp_temporary_failure" in response.content or b"451" in response.content
