"""Writes (templates, immutable versions, activation, soft delete) and substitution.

A version's content is checked and frozen here: there is no function that changes it.
Every change to what is active invalidates the cached active index of the template code.
"""

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from message_templates import caching
from message_templates.errors import InvalidTemplateInput, MissingVariables, TemplateExists, TemplateNotFound
from message_templates.models import (
    CHANNEL_FIELDS,
    DEFAULT_CATEGORY,
    REQUIRED_FIELDS,
    Category,
    Channel,
    Template,
    TemplateVersion,
)
from message_templates.selectors import CODE_RE, language_normalize, template_version_get, version_select
from notification_common.rendering import (
    ContentSyntaxError,
    MissingVariablesError,
    compile_version_content,
    render_channel_fields,
)

MAX_CODE_LENGTH = 100
# Codes that would be shadowed by the fixed routes under /api/v1/templates/.
RESERVED_CODES = frozenset({"substitute", "stats"})
MAX_LENGTHS = {
    "subject": 500,
    "text_body": 200_000,
    "html_body": 200_000,
    "title": 200,
    "body": 4_000,
    "image_url": 2_000,
}
MAX_DATA_KEYS = 50
MAX_DATA_VALUE_LENGTH = 1_000
DATA_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# FCM refuses these data keys with INVALID_ARGUMENT.
RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type", "collapse_key"})
RESERVED_DATA_KEY_PREFIXES = ("google", "gcm")


def _code_errors(code) -> list[str]:
    if not isinstance(code, str) or not code:
        return ["This field is required."]
    if len(code) > MAX_CODE_LENGTH:
        return [f"Ensure this field has no more than {MAX_CODE_LENGTH} characters."]
    if not CODE_RE.match(code):
        return ["Use lowercase letters, digits, '-' and '_' (a slug like 'password_reset')."]
    if code in RESERVED_CODES:
        return [f"'{code}' is reserved by the API routes."]
    return []


def category_resolve(code) -> Category:
    """The category named ``code``, or InvalidTemplateInput (400) naming ``category``."""
    category = Category.objects.filter(code=code).first() if isinstance(code, str) and code else None
    if category is None:
        known = ", ".join(Category.objects.order_by("code").values_list("code", flat=True))
        raise InvalidTemplateInput({"category": [f"Unknown category {code!r}; known: {known}."]})
    return category


def _data_errors(data) -> list | dict:
    if not isinstance(data, dict):
        return ["Expected an object mapping string keys to string values."]
    if len(data) > MAX_DATA_KEYS:
        return [f"At most {MAX_DATA_KEYS} keys."]
    errors: dict = {}
    for key, value in data.items():
        if not DATA_KEY_RE.match(key):
            errors[key] = ["Keys are 1-100 letters, digits, '_', '-' or '.'."]
        elif key in RESERVED_DATA_KEYS or key.lower().startswith(RESERVED_DATA_KEY_PREFIXES):
            errors[key] = ["This key is reserved by FCM."]
        elif not isinstance(value, str):
            errors[key] = ["Data values must be strings."]
        elif len(value) > MAX_DATA_VALUE_LENGTH:
            errors[key] = [f"Ensure this value has no more than {MAX_DATA_VALUE_LENGTH} characters."]
    return errors


def version_content_check(*, channel: str, content: dict) -> tuple[dict, list[str]]:
    """The version's fields for its channel, checked, and the variables they use.

    Raise InvalidTemplateInput naming each bad field: a required field empty, a field of the
    other channel given, a value too long, a malformed placeholder or a template tag.
    """
    fields = CHANNEL_FIELDS[channel]
    errors: dict = {}
    other = Channel.PUSH if channel == Channel.EMAIL else Channel.EMAIL
    for field in (*CHANNEL_FIELDS[other], *(("data",) if other == Channel.PUSH else ())):
        if content.get(field) not in (None, "", {}):
            errors[field] = [f"Not used by {channel} templates."]

    clean: dict = {}
    for field in fields:
        value = content.get(field)
        value = "" if value is None else value
        if not isinstance(value, str):
            errors[field] = ["Not a valid string."]
        elif field in REQUIRED_FIELDS[channel] and not value.strip():
            errors[field] = ["This field is required."]
        elif len(value) > MAX_LENGTHS[field]:
            errors[field] = [f"Ensure this field has no more than {MAX_LENGTHS[field]} characters."]
        elif field == "image_url" and value and not value.startswith(("https://", "http://")):
            errors[field] = ["Must be an http(s) URL."]
        else:
            clean[field] = value
    if channel == Channel.PUSH:
        data = content.get("data") or {}
        data_errors = _data_errors(data)
        if data_errors:
            errors["data"] = data_errors
        else:
            clean["data"] = dict(data)
    if errors:
        raise InvalidTemplateInput(errors)
    try:
        compiled = compile_version_content(clean)
    except ContentSyntaxError as exc:
        raise InvalidTemplateInput(exc.errors, "The template has malformed placeholders or tags.") from exc
    return clean, list(compiled.variables)


@transaction.atomic
def template_create(
    *,
    code: str,
    channel: str,
    versions: list[dict],
    default_language: str | None = None,
    description: str = "",
    user_triggerable: bool = False,
    category: str = DEFAULT_CATEGORY,
) -> Template:
    """A template with version 1 of each given language, all active."""
    errors: dict = {}
    try:
        category_row = category_resolve(category)
    except InvalidTemplateInput as exc:
        errors.update(exc.errors)
    if code_errors := _code_errors(code):
        errors["code"] = code_errors
    if channel not in Channel.values:
        errors["channel"] = [f"Must be one of: {', '.join(Channel.values)}."]
    if not isinstance(versions, list) or not versions:
        errors["versions"] = ["Give at least one version."]
    if errors:
        raise InvalidTemplateInput(errors)

    checked: list[tuple[str, dict, list[str]]] = []
    # Keyed by position, like DRF reports errors of a nested list.
    version_errors: dict[str, dict] = {}
    seen: set[str] = set()
    for position, item in enumerate(versions):
        item_errors: dict = {}
        content, variables, language = {}, [], ""
        try:
            language = language_normalize(item.get("language"))
            if language in seen:
                item_errors["language"] = [f"Language '{language}' is given twice."]
            seen.add(language)
        except InvalidTemplateInput as exc:
            item_errors.update(exc.errors)
        try:
            content, variables = version_content_check(channel=channel, content=item)
        except InvalidTemplateInput as exc:
            item_errors.update(exc.errors)
        if item_errors:
            version_errors[str(position)] = item_errors
        checked.append((language, content, variables))
    if version_errors:
        raise InvalidTemplateInput({"versions": version_errors})

    default = language_normalize(default_language, field="default_language") if default_language else checked[0][0]
    if default not in seen:
        raise InvalidTemplateInput({"default_language": [f"No version is given in the default language '{default}'."]})

    if Template.objects.filter(code=code, is_deleted=False).exists():
        raise TemplateExists(code)
    try:
        with transaction.atomic():
            template = Template.objects.create(
                code=code,
                channel=channel,
                default_language=default,
                description=description or "",
                user_triggerable=bool(user_triggerable),
                category=category_row,
            )
    except IntegrityError as exc:  # a concurrent create of the same code won
        raise TemplateExists(code) from exc
    TemplateVersion.objects.bulk_create(
        TemplateVersion(template=template, language=language, version=1, variables=variables, is_active=True, **content)
        for language, content, variables in checked
    )
    caching.active_index_forget(code)
    return template


def _lock_live(template: Template) -> Template:
    # The row lock serialises version numbering and activation of one template.
    locked = Template.objects.select_for_update().filter(pk=template.pk, is_deleted=False).first()
    if locked is None:
        raise TemplateNotFound(template.code)
    return locked


@transaction.atomic
def template_version_create(
    *, template: Template, language: str, content: dict, activate: bool = False
) -> TemplateVersion:
    """The next version of ``language``; active if asked, or if the language had no version yet."""
    language = language_normalize(language)
    clean, variables = version_content_check(channel=template.channel, content=content)
    template = _lock_live(template)
    versions = TemplateVersion.objects.filter(template=template, language=language)
    latest = versions.order_by("-version").values_list("version", flat=True).first()
    make_active = activate or latest is None
    if make_active:
        versions.filter(is_active=True).update(is_active=False)
    version = TemplateVersion.objects.create(
        template=template,
        language=language,
        version=(latest or 0) + 1,
        variables=variables,
        is_active=make_active,
        **clean,
    )
    Template.objects.filter(pk=template.pk).update(updated_at=timezone.now())
    if make_active:
        caching.active_index_forget(template.code)
    return version


@transaction.atomic
def template_version_activate(*, template: Template, language: str, version: int) -> tuple[TemplateVersion, int | None]:
    """Make ``version`` the active one of ``language`` (a rollback is activating an older one).

    Returns the version and the number that was active before.
    """
    language = language_normalize(language)
    template = _lock_live(template)
    target = template_version_get(template=template, language=language, version=version)
    current = TemplateVersion.objects.filter(template=template, language=language, is_active=True).first()
    previous = current.version if current else None
    if current is not None and current.pk == target.pk:
        return target, previous
    # Deactivate first: the partial unique index allows one active row at any moment.
    TemplateVersion.objects.filter(template=template, language=language, is_active=True).update(is_active=False)
    TemplateVersion.objects.filter(pk=target.pk).update(is_active=True)
    target.is_active = True
    Template.objects.filter(pk=template.pk).update(updated_at=timezone.now())
    caching.active_index_forget(template.code)
    return target, previous


@transaction.atomic
def template_delete(*, template: Template) -> Template:
    """Soft delete: the template and its versions stay for history; its code becomes free."""
    template = _lock_live(template)
    template.is_deleted = True
    template.deleted_at = timezone.now()
    template.save(update_fields=["is_deleted", "deleted_at", "updated_at"])
    caching.active_index_forget(template.code)
    return template


@transaction.atomic
def template_update(
    *,
    template: Template,
    description: str | None = None,
    user_triggerable: bool | None = None,
    category: str | None = None,
) -> Template:
    """Change what is not versioned: the description, whether user tokens may trigger it, its category."""
    category_row = category_resolve(category) if category is not None else None
    template = _lock_live(template)
    fields = []
    if category_row is not None:
        template.category = category_row
        fields.append("category")
    if description is not None:
        template.description = description
        fields.append("description")
    if user_triggerable is not None:
        template.user_triggerable = user_triggerable
        fields.append("user_triggerable")
    if fields:
        template.save(update_fields=[*fields, "updated_at"])
    return template


def template_substitute(*, code: str, variables: dict, language: str | None = None, version: int | None = None) -> dict:
    """Render the active version (or ``version``) of ``code`` in the best available language.

    The consumers render the same selection locally (notification_common.template_versions)
    with the same renderer, so both paths give the same text.
    """
    selection = version_select(code=code, language=language, version=version)
    snapshot = selection.snapshot
    try:
        fields = render_channel_fields(snapshot.channel, snapshot.compiled, variables)
    except MissingVariablesError as exc:
        raise MissingVariables(exc.missing) from exc
    return {
        "template_code": code,
        "channel": snapshot.channel,
        "language": snapshot.language,
        "requested_language": selection.requested_language,
        "version": snapshot.version,
        **fields,
    }
