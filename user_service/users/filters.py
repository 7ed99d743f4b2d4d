"""List filters of the user service's selectors (django-filter FilterSets over validated values).

The APIs validate query parameters with their nested FilterSerializer (the OpenAPI parameters
and the 400 validation_error envelope naming the field); a FilterSet only narrows the queryset.
"""

import django_filters
from django.db.models import Q

from users.models import NotificationLog


class UserFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search")

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(email__icontains=value) | Q(name__icontains=value))


class NotificationLogFilter(django_filters.FilterSet):
    class Meta:
        model = NotificationLog
        fields = ["channel", "status"]
