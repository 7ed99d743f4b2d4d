import getpass

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from platform_admin.services import admin_create


class Command(BaseCommand):
    help = "Create an admin account (staff and superuser) for the admin API and the admin site."

    def add_arguments(self, parser):
        parser.add_argument("--username")
        parser.add_argument("--email")
        parser.add_argument("--password", help="prompted for when missing (prefer the prompt: shell history)")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")
        parser.add_argument("--no-superuser", action="store_false", dest="superuser", help="staff only")

    def handle(self, *args, username, email, password, interactive, superuser, **options):
        if interactive:
            username = username or input("Username: ").strip()
            email = email or input("Email: ").strip()
            if not password:
                password = getpass.getpass("Password: ")
                if password != getpass.getpass("Password (again): "):
                    raise CommandError("The passwords do not match.")
        given = {"username": username, "email": email, "password": password}
        missing = [name for name, value in given.items() if not value]
        if missing:
            raise CommandError(f"Missing: {', '.join('--' + name for name in missing)}.")
        try:
            user = admin_create(username=username, email=email, password=password, superuser=superuser)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(problems) from exc
        self.stdout.write(self.style.SUCCESS(f"Admin {user.username} created."))
