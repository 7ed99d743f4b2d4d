from django.urls import path

from message_templates import apis

# Fixed routes first: a template code never shadows them (codes 'substitute' and 'stats' are reserved too).
urlpatterns = [
    path("categories/", apis.CategoryListApi.as_view(), name="category-list"),
    path("templates/", apis.TemplateListCreateApi.as_view(), name="template-list"),
    path("templates/substitute/", apis.TemplateSubstituteApi.as_view(), name="template-substitute"),
    path("templates/stats/", apis.TemplateStatsApi.as_view(), name="template-stats"),
    path("templates/<str:code>/", apis.TemplateDetailApi.as_view(), name="template-detail"),
    path("templates/<str:code>/active/", apis.TemplateActiveVersionApi.as_view(), name="template-active-version"),
    path("templates/<str:code>/versions/", apis.TemplateVersionListCreateApi.as_view(), name="template-versions"),
    path(
        "templates/<str:code>/versions/<int:version>/activate/",
        apis.TemplateVersionActivateApi.as_view(),
        name="template-version-activate",
    ),
]
