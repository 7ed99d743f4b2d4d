pytest_plugins = ["notification_devtools.testing.pytest_plugin"]

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_template_caches(redis_client):
    """Each test starts with an empty Redis cache and process LRU (codes repeat across tests)."""
    from message_templates.caching import compiled_versions

    compiled_versions.clear()
    yield
    compiled_versions.clear()


@pytest.fixture
def writer_key(settings) -> str:
    """A key with only the templates:write scope (as the admin service would issue one)."""
    key = "test-templates-writer-key"
    common = dict(settings.NOTIFICATION_COMMON)
    common["BOOTSTRAP_API_KEYS"] = {**common["BOOTSTRAP_API_KEYS"], key: ["templates:write"]}
    settings.NOTIFICATION_COMMON = common
    return key


@pytest.fixture
def reader_key(settings) -> str:
    """A key with only the templates:read scope (what template reads and renders need)."""
    key = "test-templates-reader-key"
    common = dict(settings.NOTIFICATION_COMMON)
    common["BOOTSTRAP_API_KEYS"] = {**common["BOOTSTRAP_API_KEYS"], key: ["templates:read"]}
    settings.NOTIFICATION_COMMON = common
    return key


@pytest.fixture
def reader_client(api_client, reader_key):
    api_client.credentials(HTTP_X_API_KEY=reader_key)
    return api_client


@pytest.fixture
def internal_client(api_client, internal_key):
    api_client.credentials(HTTP_X_API_KEY=internal_key)
    return api_client


@pytest.fixture
def user_client(api_client, user_token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {user_token('5b0c3a52-3c7e-4f7e-9a59-8c1f7d0e2a11')}")
    return api_client
