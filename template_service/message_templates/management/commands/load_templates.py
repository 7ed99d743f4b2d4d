"""``manage.py load_templates [--update] [--dry-run]``: load the starter templates, idempotently.

A template or language that is missing is created. Where the active version already has the
starter's content nothing changes. Where it differs (someone published another version), it
is left alone and reported, unless ``--update``: then the starter content becomes a new,
active version. Deleted starter codes are not brought back.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from message_templates import services
from message_templates.models import Template, TemplateVersion
from message_templates.starter_templates import STARTER_TEMPLATES
from notification_common.exceptions import ApplicationError


class DryRunRollback(Exception):
    pass


class Command(BaseCommand):
    help = "Load the starter templates (welcome, password_reset, order_update; email and push; en, pt, es)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--update",
            action="store_true",
            help="Publish the starter content as a new active version where it differs.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Report what would change without saving.")
        parser.add_argument("--only", nargs="+", metavar="CODE", help="Load only these template codes.")

    def handle(self, *args, update: bool, dry_run: bool, only: list[str] | None, **options):
        starters = STARTER_TEMPLATES
        if only:
            known = {starter["code"] for starter in STARTER_TEMPLATES}
            unknown = sorted(set(only) - known)
            if unknown:
                raise CommandError(
                    f"Unknown starter template(s): {', '.join(unknown)}. Known: {', '.join(sorted(known))}."
                )
            starters = [starter for starter in STARTER_TEMPLATES if starter["code"] in only]

        counts = {"created": 0, "changed": 0, "unchanged": 0, "differs": 0, "skipped": 0}
        try:
            with transaction.atomic():
                for starter in starters:
                    for outcome, line in self._load(starter, update=update):
                        counts[outcome] += 1
                        self.stdout.write(line)
                if dry_run:
                    raise DryRunRollback
        except DryRunRollback:
            self.stdout.write("Dry run: nothing was saved.")
        except ApplicationError as exc:
            raise CommandError(f"Starter template refused: {exc.message} {exc.data or ''}") from exc
        summary = ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Starter templates: {summary}."))

    def _load(self, starter: dict, *, update: bool):
        code = starter["code"]
        template = Template.objects.filter(code=code, is_deleted=False).first()
        if template is None:
            if Template.objects.filter(code=code, is_deleted=True).exists():
                yield "skipped", f"{code}: deleted; not recreated"
                return
            services.template_create(**starter)
            languages = ", ".join(version["language"] for version in starter["versions"])
            yield "created", f"{code}: created ({languages})"
            return
        for version in starter["versions"]:
            yield self._load_language(template, version, update=update)

    def _load_language(self, template: Template, starter_version: dict, *, update: bool) -> tuple[str, str]:
        content = {key: value for key, value in starter_version.items() if key != "language"}
        language = services.language_normalize(starter_version["language"])
        label = f"{template.code} {language}"
        clean, _ = services.version_content_check(channel=template.channel, content=content)
        active = TemplateVersion.objects.filter(template=template, language=language, is_active=True).first()
        if active is None:
            created = services.template_version_create(template=template, language=language, content=content)
            return "created", f"{label}: created version {created.version}"
        if active.content() == clean:
            return "unchanged", f"{label}: unchanged (version {active.version})"
        if not update:
            return "differs", f"{label}: active version {active.version} differs from the starter; kept (use --update)"
        created = services.template_version_create(template=template, language=language, content=content, activate=True)
        return "changed", f"{label}: starter content published as version {created.version}"
