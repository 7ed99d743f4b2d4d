"""pytest plugin, loaded with ``-p`` from each service's pytest.ini: tests run with ENVIRONMENT=test.

It must act before pytest-django loads the settings, which happens before any conftest.py
is read; without it the settings would default to production (notification_common.checks).
"""

import os

os.environ["ENVIRONMENT"] = "test"
