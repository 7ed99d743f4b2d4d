"""The list filter of selectors.py as a django-filter FilterSet.

The view validates the query first (its FilterSerializer: a bad value is the usual 400
envelope naming the field), so this takes clean values; an empty or missing one filters nothing.
"""

import django_filters

from emails.models import EmailNotification


class EmailNotificationFilter(django_filters.FilterSet):
    status = django_filters.CharFilter()
    user_id = django_filters.UUIDFilter()
    recipient = django_filters.CharFilter(lookup_expr="iexact")
    template_code = django_filters.CharFilter()

    class Meta:
        model = EmailNotification
        fields: list = []
