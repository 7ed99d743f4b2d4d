pytest_plugins = ["notification_devtools.testing.pytest_plugin"]
