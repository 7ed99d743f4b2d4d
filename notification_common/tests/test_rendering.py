"""The renderer: {{ name }} placeholders only, values substituted once and escaped in HTML."""

import pytest

from notification_common.rendering import (
    ContentSyntaxError,
    MissingVariablesError,
    TemplateSyntaxError,
    compile_content,
    compile_template,
    stringify,
)


def render(source: str, **variables) -> str:
    return compile_content({"text": source}).render(variables)["text"]


def render_html(source: str, **variables) -> str:
    return compile_content({"html_body": source}, html_fields=frozenset({"html_body"})).render(variables)["html_body"]


@pytest.mark.parametrize("source", ["{{name}}", "{{ name }}", "{{   name\t}}", "{{\nname\n}}"])
def test_placeholder_with_or_without_spaces_is_replaced(source):
    assert render(f"Hi {source}!", name="Ada") == "Hi Ada!"


def test_text_without_placeholders_is_returned_unchanged():
    assert render("Plain text, braces { } and } }.") == "Plain text, braces { } and } }."


def test_variables_are_listed_once_in_order_of_first_use():
    template = compile_template("{{ b }} {{ a }} {{ b }} {{ _c9 }}")

    assert template.variables == ("b", "a", "_c9")


def test_variables_of_every_field_and_data_value_are_collected():
    content = compile_content({"title": "{{ a }}", "body": "{{ b }} {{ a }}"}, {"key": "{{ c }}"})

    assert content.variables == ("a", "b", "c")


def test_extra_variables_are_ignored():
    assert render("{{ name }}", name="Ada", unused="x") == "Ada"


def test_every_missing_variable_is_named():
    content = compile_content({"subject": "{{ a }} {{ b }}", "text_body": "{{ c }} {{ a }}"})

    with pytest.raises(MissingVariablesError) as error:
        content.render({"b": "present"})

    assert error.value.missing == ["a", "c"]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("Hi {{ name", "unclosed placeholder"),
        ("Hi {{ name }", "unclosed placeholder"),
        ("Hi {{}}", "empty placeholder"),
        ("Hi {{   }}", "empty placeholder"),
        ("Hi {{ user.name }}", "attribute or index access"),
        ("Hi {{ items[0] }}", "attribute or index access"),
        ("Hi {{ name|upper }}", "filters"),
        ("Hi {{ 1name }}", "invalid placeholder"),
        ("Hi {{ first name }}", "invalid placeholder"),
        ("Hi {{ name() }}", "invalid placeholder"),
        ("Hi {{{ name }}}", "invalid placeholder"),
        ("{% if admin %}secret{% endif %}", "template tags"),
        ("{% load os %}", "template tags"),
    ],
)
def test_malformed_placeholder_or_tag_is_refused_naming_the_problem(source, problem):
    with pytest.raises(TemplateSyntaxError) as error:
        compile_template(source)

    assert problem in error.value.problems[0]


def test_every_problem_is_reported_with_its_line():
    with pytest.raises(TemplateSyntaxError) as error:
        compile_template("ok {{ a }}\n{{ b.c }}\n{% x %}")

    assert len(error.value.problems) == 2
    assert "line 2" in error.value.problems[0]
    assert "line 3" in error.value.problems[1]


def test_syntax_errors_are_reported_per_field_and_data_key():
    with pytest.raises(ContentSyntaxError) as error:
        compile_content({"subject": "{{ ok }}", "text_body": "{{ bad"}, {"link": "{{}}"})

    assert set(error.value.errors) == {"text_body", "data"}
    assert "unclosed placeholder" in error.value.errors["text_body"][0]
    assert "empty placeholder" in error.value.errors["data"]["link"][0]


@pytest.mark.parametrize(
    "css",
    [
        "<style>@media (max-width:600px){#header{width:100%}}</style>",
        "<style>a{color:red}}</style>",
        "{# not a comment here #}",
    ],
)
def test_css_and_lone_closers_in_html_are_not_mistaken_for_tags(css):
    assert render_html(css) == css


@pytest.mark.parametrize(
    "value", ["{{ other }}", "{{other}}", "{% include 'secrets' %}", "{% load os %}{{ settings.SECRET_KEY }}"]
)
def test_value_that_looks_like_a_placeholder_or_tag_stays_inert_text(value):
    rendered = render("Hi {{ name }}, {{ other }}", name=value, other="OTHER")

    assert rendered == f"Hi {value}, OTHER"


def test_script_in_a_value_is_escaped_in_html_body():
    rendered = render_html("<p>{{ name }}</p>", name="<script>alert('x')</script>")

    assert rendered == "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</p>"


def test_attribute_breakout_in_a_value_is_escaped_in_html_body():
    rendered = render_html('<a href="{{ link }}">go</a>', link='x" onclick="steal()')

    assert rendered == '<a href="x&quot; onclick=&quot;steal()">go</a>'


def test_script_in_a_value_is_left_as_text_outside_html_body():
    content = compile_content(
        {"text_body": "{{ name }}", "html_body": "{{ name }}"}, html_fields=frozenset({"html_body"})
    )

    rendered = content.render({"name": "<b>Ada</b>"})

    assert rendered["text_body"] == "<b>Ada</b>"
    assert rendered["html_body"] == "&lt;b&gt;Ada&lt;/b&gt;"


def test_line_breaks_in_a_value_become_spaces_in_single_line_fields():
    content = compile_content(
        {"subject": "Hi {{ name }}", "text_body": "Hi {{ name }}"}, single_line_fields=frozenset({"subject"})
    )

    rendered = content.render({"name": "Ada\r\nBcc: victim@example.com"})

    assert rendered["subject"] == "Hi Ada Bcc: victim@example.com"
    assert rendered["text_body"] == "Hi Ada\r\nBcc: victim@example.com"


def test_data_values_are_rendered_as_strings():
    content = compile_content({"title": "x"}, {"order_id": "{{ order }}", "fixed": "orders"})

    assert content.render({"order": 42})["data"] == {"order_id": "42", "fixed": "orders"}


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("text", "text"),
        (42, "42"),
        (1.5, "1.5"),
        (True, "true"),
        (None, ""),
        ({"a": 1}, '{"a": 1}'),
        (["x", "ç"], '["x", "ç"]'),
    ],
)
def test_values_are_stringified(value, text):
    assert stringify(value) == text
