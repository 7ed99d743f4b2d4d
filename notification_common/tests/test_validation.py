"""Unsafe text: found at any depth with its path (JSON bodies), refused in single-line names."""

import io
import json

import pytest
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from notification_common.parsers import BoundedJSONParser
from notification_common.validation import SingleLineTextValidator, find_unsafe_text


def test_nul_and_lone_surrogates_are_found_at_any_depth_with_their_path():
    data = {
        "fine": "text \U0001f600",
        "variables": {"name": "Ada\x00"},
        "items": [{"ok": 1}, {"note": "\udc00"}],
        "deep": {"a": {"b": {"c": ["x", "\ud800y"]}}},
    }

    assert find_unsafe_text(data) == [
        ("deep.a.b.c.1", "Must not contain unpaired surrogates (\\ud800-\\udfff)."),
        ("items.1.note", "Must not contain unpaired surrogates (\\ud800-\\udfff)."),
        ("variables.name", "Must not contain NUL characters (\\u0000)."),
    ]


def test_a_bad_key_is_reported_where_it_sits_without_echoing_it():
    [(path, message)] = find_unsafe_text({"variables": {"bad\x00key": "v"}})

    assert path == "variables"
    assert message.startswith("Has a key that must not contain NUL")


def test_clean_json_and_other_types_have_no_problems():
    assert find_unsafe_text({"a": [1, 2.5, None, True, {"b": "line\nbreaks are fine in bodies"}]}) == []
    assert find_unsafe_text("top-level \x00") == [("non_field_errors", "Must not contain NUL characters (\\u0000).")]


def test_a_very_deep_body_is_walked_without_recursion():
    data: list = []
    node = data
    for _ in range(50_000):
        child: list = []
        node.append(child)
        node = child
    node.append("\x00")

    [(path, _)] = find_unsafe_text(data)
    assert path.count(".") == 50_000


def test_the_parser_refuses_escaped_nul_naming_the_field():
    stream = io.BytesIO(json.dumps({"metadata": {"note": "a\x00"}}).encode())

    with pytest.raises(ValidationError) as raised:
        BoundedJSONParser().parse(stream)

    assert raised.value.detail == {"metadata.note": ["Must not contain NUL characters (\\u0000)."]}


class _NameSerializer(serializers.Serializer):
    name = serializers.CharField(validators=[SingleLineTextValidator()])


@pytest.mark.parametrize(
    "name", ["two\nlines", "tab\there", "bell\x07", "esc\x1b[31m", "nul\x00", "sep\u2028x", "c1\x85x"]
)
def test_single_line_names_refuse_control_characters(name):
    serializer = _NameSerializer(data={"name": name})

    assert not serializer.is_valid()
    assert list(serializer.errors) == ["name"]


@pytest.mark.parametrize("name", ["Marketing key", "Clé d'envoi — été", "日本語の名前", "emoji \U0001f680"])
def test_single_line_names_accept_ordinary_text(name):
    assert _NameSerializer(data={"name": name}).is_valid()
