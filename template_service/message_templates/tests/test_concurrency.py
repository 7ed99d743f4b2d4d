"""Concurrent writes to one template keep version numbers unique and one version active."""

import threading

import pytest
from django.db import connection

from message_templates import services
from message_templates.models import TemplateVersion
from message_templates.tests.factories import EmailTemplateFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_new_active_versions_get_distinct_numbers_and_one_stays_active():
    template = EmailTemplateFactory(code="welcome")
    barrier = threading.Barrier(4)
    errors = []

    def publish(n):
        try:
            barrier.wait()
            services.template_version_create(
                template=template, language="en", content={"subject": f"s{n}", "text_body": "t"}, activate=True
            )
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    numbers = sorted(TemplateVersion.objects.filter(template=template).values_list("version", flat=True))
    assert numbers == [1, 2, 3, 4, 5]
    assert TemplateVersion.objects.filter(template=template, is_active=True).count() == 1
