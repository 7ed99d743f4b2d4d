from django.core.management.base import BaseCommand

from platform_admin.services import api_key_usage_flush


class Command(BaseCommand):
    help = "Write the API key last-used times noted in Redis to the database."

    def handle(self, *args, **options):
        self.stdout.write(f"updated {api_key_usage_flush()} key(s)")
