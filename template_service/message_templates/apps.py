from django.apps import AppConfig
from django.db.models.signals import post_migrate


def categories_seed(sender, using="default", apps=None, **kwargs) -> None:
    """Make sure the built-in categories exist after every migrate (and every flush, which
    emits post_migrate too): templates default to ``transactional`` and must always find it.
    Existing rows are left as they are (an operator may have renamed or re-described them)."""
    from message_templates.models import SEEDED_CATEGORIES

    try:
        Category = (apps or sender.apps).get_model("message_templates", "Category")
    except LookupError:  # migrated back to before categories existed
        return
    for code, name, description, required in SEEDED_CATEGORIES:
        Category.objects.using(using).get_or_create(
            code=code, defaults={"name": name, "description": description, "required": required}
        )


class MessageTemplatesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "message_templates"

    def ready(self) -> None:
        post_migrate.connect(categories_seed, sender=self)
