"""The list FilterSets (notifications/filters.py): an unusable filter is refused, never ignored."""

import pytest
from rest_framework.exceptions import ValidationError

from notifications.selectors import notification_list


def test_a_filter_value_the_filterset_rejects_is_a_validation_error_not_a_wider_list():
    with pytest.raises(ValidationError) as refused:
        notification_list(sender="key:a", filters={"status": "lost"})

    assert "status" in refused.value.detail
