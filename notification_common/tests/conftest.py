pytest_plugins = ["notification_common.testing.pytest_plugin"]
