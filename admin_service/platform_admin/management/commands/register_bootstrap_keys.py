from django.core.management.base import BaseCommand

from platform_admin.services import api_key_register_bootstrap


class Command(BaseCommand):
    help = "Register the API keys of BOOTSTRAP_API_KEYS in the key table (also runs after migrate)."

    def handle(self, *args, **options):
        created = api_key_register_bootstrap()
        self.stdout.write(f"registered {len(created)} new bootstrap key(s)")
