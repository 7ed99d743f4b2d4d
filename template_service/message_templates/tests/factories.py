"""Templates made through the services, the way the API makes them."""

import factory

from message_templates import services
from message_templates.models import Channel, Template


def email_version(language: str = "en", **overrides) -> dict:
    return {
        "language": language,
        "subject": f"[{language}] Welcome, {{{{ name }}}}",
        "text_body": f"[{language}] Hi {{{{ name }}}}, open {{{{ link }}}}",
        "html_body": f"<p>[{language}] Hi {{{{ name }}}}, <a href='{{{{ link }}}}'>open</a></p>",
        **overrides,
    }


def push_version(language: str = "en", **overrides) -> dict:
    return {
        "language": language,
        "title": f"[{language}] Hello {{{{ name }}}}",
        "body": f"[{language}] Your order {{{{ order_id }}}} shipped",
        "image_url": "https://cdn.example.com/{{ order_id }}.png",
        "data": {"order_id": "{{ order_id }}", "screen": "orders"},
        **overrides,
    }


class EmailTemplateFactory(factory.Factory):
    """``EmailTemplateFactory(languages=("en", "pt"))`` -> a saved Template, version 1 per language."""

    class Meta:
        model = Template

    code = factory.Sequence(lambda n: f"email_template_{n}")
    channel = Channel.EMAIL
    languages = ("en",)
    default_language = None
    description = "made by a test"

    @classmethod
    def _create(cls, model_class, *, languages, channel, **kwargs):
        make = email_version if channel == Channel.EMAIL else push_version
        return services.template_create(channel=channel, versions=[make(language) for language in languages], **kwargs)


class PushTemplateFactory(EmailTemplateFactory):
    code = factory.Sequence(lambda n: f"push_template_{n}")
    channel = Channel.PUSH
