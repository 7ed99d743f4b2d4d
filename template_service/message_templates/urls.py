from django.urls import path

from message_templates.apis import categories, rendering, templates, versions

# Fixed routes first: a template code never shadows them (codes 'substitute' and 'stats' are reserved too).
urlpatterns = [
    path("categories/", categories.CategoryListApi.as_view(), name="category-list"),
    path("templates/", templates.TemplateListCreateApi.as_view(), name="template-list"),
    path("templates/substitute/", rendering.TemplateSubstituteApi.as_view(), name="template-substitute"),
    path("templates/stats/", templates.TemplateStatsApi.as_view(), name="template-stats"),
    path("templates/<str:code>/", templates.TemplateDetailApi.as_view(), name="template-detail"),
    path("templates/<str:code>/active/", rendering.TemplateActiveVersionApi.as_view(), name="template-active-version"),
    path("templates/<str:code>/versions/", versions.TemplateVersionListCreateApi.as_view(), name="template-versions"),
    path(
        "templates/<str:code>/versions/<int:version>/activate/",
        versions.TemplateVersionActivateApi.as_view(),
        name="template-version-activate",
    ),
]
