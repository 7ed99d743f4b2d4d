"""The list filters of selectors.py as django-filter FilterSets.

The views validate the query first (their FilterSerializer: a bad value is the usual 400
envelope naming the field), so these take clean values; an empty one filters nothing.
"""

import django_filters
from django.db.models import Q

from platform_admin.models import ApiKey, AuditEntry, DeadLetter


class ApiKeyFilter(django_filters.FilterSet):
    revoked = django_filters.BooleanFilter(method="filter_revoked")
    scope = django_filters.CharFilter(method="filter_scope")
    search = django_filters.CharFilter(method="filter_search")

    class Meta:
        model = ApiKey
        fields: list = []

    def filter_revoked(self, queryset, name, value):
        return queryset.filter(revoked_at__isnull=not value)

    def filter_scope(self, queryset, name, value):
        return queryset.filter(scopes__contains=[value])

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(prefix__startswith=value))


class DeadLetterFilter(django_filters.FilterSet):
    reason = django_filters.CharFilter(lookup_expr="icontains")
    channel = django_filters.CharFilter()
    failure_kind = django_filters.CharFilter()
    notification_id = django_filters.CharFilter()
    replayed = django_filters.BooleanFilter(method="filter_replayed")

    class Meta:
        model = DeadLetter
        fields: list = []

    def filter_replayed(self, queryset, name, value):
        return queryset.filter(replayed_at__isnull=not value)


class AuditFilter(django_filters.FilterSet):
    action = django_filters.CharFilter()
    actor = django_filters.CharFilter(lookup_expr="iexact")
    target = django_filters.CharFilter(lookup_expr="icontains")
    since = django_filters.DateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = django_filters.DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEntry
        fields: list = []
