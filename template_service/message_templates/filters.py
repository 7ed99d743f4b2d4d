"""The list filters of selectors.py as django-filter FilterSets.

The views validate the query first (their FilterSerializer: a bad value is the usual 400
envelope naming the field, and the language is normalised), so these take clean values; an
empty or missing one filters nothing.
"""

import django_filters

from message_templates.models import Template, TemplateVersion


class TemplateFilter(django_filters.FilterSet):
    channel = django_filters.CharFilter()
    # Templates with an active version in this language.
    language = django_filters.CharFilter(method="filter_language")
    search = django_filters.CharFilter(field_name="code", lookup_expr="icontains")

    class Meta:
        model = Template
        fields: list = []

    def filter_language(self, queryset, name, value):
        return queryset.filter(versions__language=value, versions__is_active=True)


class TemplateVersionFilter(django_filters.FilterSet):
    language = django_filters.CharFilter()

    class Meta:
        model = TemplateVersion
        fields: list = []
