"""``?page=&limit=`` pagination that fills the envelope's ``meta`` block.

``page`` is capped (``PAGINATION_MAX_PAGE``, default 10,000): a page beyond the cap is a 400
naming ``page``, never an OFFSET that overflows PostgreSQL's bigint (a 500 before). The rule
is a cap rather than "beyond the last page" so that a page just past the end of a list
that shrank stays an empty 200, as clients paging through it expect.
"""

import math

from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import BasePagination

from notification_common.exceptions import ApplicationError, ErrorCode


def _positive_int(raw, name: str, default: int, maximum: int | None = None) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ApplicationError(
            ErrorCode.VALIDATION_ERROR,
            f"{name} must be a positive integer.",
            data={name: [f"{name} must be a positive integer."]},
        )
    return min(value, maximum) if maximum else value


DEFAULT_MAX_PAGE = 10_000


def max_page() -> int:
    return getattr(settings, "PAGINATION_MAX_PAGE", DEFAULT_MAX_PAGE)


def _page_number(raw) -> int:
    page = _positive_int(raw, "page", 1)
    cap = max_page()
    if page > cap:
        message = f"page must be at most {cap}; narrow the list with its filters instead."
        raise ApplicationError(ErrorCode.VALIDATION_ERROR, message, data={"page": [message]})
    return page


class PageField(serializers.IntegerField):
    """``?page=`` of a list a service forwards to another (the admin service's users and
    templates): bounded here like every list, so a huge page is a 400, not a call upstream."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", 1)
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value > max_page():
            raise serializers.ValidationError(
                f"page must be at most {max_page()}; narrow the list with its filters instead."
            )
        return value


class PageLimitPagination(BasePagination):
    default_limit = 20
    max_limit = 100

    def paginate_queryset(self, queryset, request, view=None):
        self.limit = _positive_int(request.query_params.get("limit"), "limit", self.default_limit, self.max_limit)
        self.page = _page_number(request.query_params.get("page"))
        self.total = (
            queryset.count() if hasattr(queryset, "count") and not isinstance(queryset, list) else len(queryset)
        )
        start = (self.page - 1) * self.limit
        return list(queryset[start : start + self.limit])

    def meta(self) -> dict:
        return page_meta(total=self.total, page=self.page, limit=self.limit)

    def get_paginated_response(self, data):
        from notification_common.envelope import ok

        return ok(data, meta=self.meta())

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {
                "success": {"type": "boolean"},
                "data": schema,
                "error": {"type": "string", "nullable": True},
                "message": {"type": "string"},
                "meta": {
                    "type": "object",
                    "properties": {name: {"type": "integer"} for name in ("total", "limit", "page", "total_pages")}
                    | {"has_next": {"type": "boolean"}, "has_previous": {"type": "boolean"}},
                },
            },
        }


def page_meta(*, total: int, page: int, limit: int) -> dict:
    total_pages = math.ceil(total / limit) if total else 0
    return {
        "total": total,
        "limit": limit,
        "page": page,
        "total_pages": total_pages,
        "has_next": page < total_pages,
        "has_previous": page > 1,
    }


def paginate(queryset, request, serializer_class, *, context=None, default_limit: int | None = None):
    """Paginate a queryset for a plain APIView and return the envelope response."""
    paginator = PageLimitPagination()
    if default_limit:
        paginator.default_limit = default_limit
    page = paginator.paginate_queryset(queryset, request)
    data = serializer_class(page, many=True, context=context or {"request": request}).data
    return paginator.get_paginated_response(data)
