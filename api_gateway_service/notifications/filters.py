"""List filters of the gateway's reads (django-filter), applied by the selectors.

The views validate query parameters first, with their FilterSerializers (the same 400
envelope and the OpenAPI parameters); these FilterSets only narrow the queryset. A value a
FilterSet still finds invalid is a 400 as well, never silently dropped: a filter that is
ignored would widen the list.
"""

import django_filters
from django.db.models import QuerySet
from django_filters.utils import translate_validation

from notifications.models import NotificationRequest


class NotificationFilter(django_filters.FilterSet):
    """A sender's own notifications (GET /notifications/)."""

    class Meta:
        model = NotificationRequest
        fields = ["status", "notification_type"]


class MessageLogFilter(django_filters.FilterSet):
    """The operators' message log: by notification id, request_id, or any of several users."""

    notification_id = django_filters.UUIDFilter(field_name="id")
    request_id = django_filters.CharFilter(field_name="idempotency_key")
    # A list of UUIDs, already validated by the view's FilterSerializer (ListField of UUIDs).
    user_id = django_filters.Filter(field_name="user_id", lookup_expr="in")


def filtered(filterset_class: type[django_filters.FilterSet], filters: dict | None, queryset: QuerySet) -> QuerySet:
    """``queryset`` narrowed by ``filters`` (validated data); 400 validation_error if invalid."""
    filterset = filterset_class(filters or {}, queryset=queryset)
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    return filterset.qs
