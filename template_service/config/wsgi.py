import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# Fail closed: in production a default secret, a wildcard host or a missing key stops the
# worker from booting, with the check errors naming each problem (notification_common.checks).
from notification_common.checks import refuse_to_start_on_errors  # noqa: E402

refuse_to_start_on_errors()
