import pytest

from notification_common.remembered_api_keys import forget_remembered_verdicts

pytest_plugins = ["notification_devtools.testing.pytest_plugin"]


@pytest.fixture(autouse=True)
def _forget_remembered_key_verdicts():
    """A key verdict one test left in the process's memory must not decide another test's request."""
    forget_remembered_verdicts()
    yield
    forget_remembered_verdicts()
