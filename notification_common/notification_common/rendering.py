"""``{{ name }}`` substitution and nothing else: no expressions, attributes, filters or tags.

A template is checked and compiled once (when a version is saved, and again on first use
in a process); rendering a compiled template only joins literal text with the values, in a
single pass, so a value that itself looks like a placeholder or a tag stays inert text.
Pure functions: no Django, no I/O. Rules and examples in docs/template_service.md.

The one renderer of the platform: the template service renders its substitute answers with
it, and the email and push consumers render the versions they fetch (``template_versions``)
with it, so both give the same text for the same version and variables.
"""

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
PLACEHOLDER_RE = re.compile(r"\{\{\s*(" + VARIABLE_NAME + r")\s*\}\}")
# What opens a placeholder or a tag in the template languages people paste from
# (Django, Jinja, Handlebars). `{#` and a lone `}}` or `%}` are left alone: minified CSS
# in HTML bodies contains them (`@media x{#id{...}}`, `width:100%}`).
_OPENER_RE = re.compile(r"\{\{|\{%")
_SNIPPET_LENGTH = 40

# The template fields of each channel, in the order their variables are listed.
EMAIL_CHANNEL = "email"
PUSH_CHANNEL = "push"
EMAIL_FIELDS = ("subject", "text_body", "html_body")
PUSH_FIELDS = ("title", "body", "image_url")
CHANNEL_FIELDS = {EMAIL_CHANNEL: EMAIL_FIELDS, PUSH_CHANNEL: PUSH_FIELDS}
HTML_FIELDS = frozenset({"html_body"})
# An email subject is a header: a value with a line break must not start a new header.
SINGLE_LINE_FIELDS = frozenset({"subject", "image_url"})


class TemplateSyntaxError(ValueError):
    """The template text has something that looks like a placeholder or tag but is not one."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class ContentSyntaxError(ValueError):
    """Syntax problems of several fields: ``errors`` maps a field (or ``data``) to its problems."""

    def __init__(self, errors: dict):
        super().__init__(str(errors))
        self.errors = errors


class MissingVariablesError(ValueError):
    def __init__(self, missing: list[str]):
        super().__init__(f"Missing variables: {', '.join(missing)}.")
        self.missing = missing


@dataclass(frozen=True)
class CompiledTemplate:
    """Literal text and variable names, alternating: ``parts[0::2]`` text, ``parts[1::2]`` names."""

    parts: tuple[str, ...]
    variables: tuple[str, ...]

    def render(self, values: Mapping[str, str]) -> str:
        if len(self.parts) == 1:
            return self.parts[0]
        pieces = list(self.parts)
        pieces[1::2] = [values[name] for name in self.parts[1::2]]
        return "".join(pieces)


def _snippet(source: str, start: int, end: int | None = None) -> str:
    text = source[start : end if end is not None else start + _SNIPPET_LENGTH]
    text = text.split("\n", 1)[0]
    return text if len(text) <= _SNIPPET_LENGTH else text[: _SNIPPET_LENGTH - 1] + "…"


def _line(source: str, at: int) -> int:
    return source.count("\n", 0, at) + 1


def _describe_malformed_placeholder(source: str, at: int) -> str:
    where = f"line {_line(source, at)}"
    close = source.find("}}", at + 2)
    next_opener = _OPENER_RE.search(source, at + 2)
    if close == -1 or (next_opener is not None and next_opener.start() < close):
        return f"unclosed placeholder '{_snippet(source, at)}' at {where}: write '{{{{ name }}}}'."
    shown = _snippet(source, at, close + 2)
    inner = source[at + 2 : close].strip()
    if not inner:
        return f"empty placeholder '{shown}' at {where}: put a variable name inside."
    if "." in inner or "[" in inner:
        return f"attribute or index access '{shown}' at {where} is not supported: use a plain variable name."
    if "|" in inner:
        return f"filters '{shown}' at {where} are not supported: use a plain variable name."
    return (
        f"invalid placeholder '{shown}' at {where}: a variable name has letters, digits and underscores "
        "and does not start with a digit."
    )


def compile_template(source: str) -> CompiledTemplate:
    """Check and compile one template text; raise TemplateSyntaxError listing every problem."""
    problems: list[str] = []
    parts: list[str] = []
    literal_start = 0
    position = 0
    while (opener := _OPENER_RE.search(source, position)) is not None:
        at = opener.start()
        if opener.group() == "{%":
            close = source.find("%}", at + 2)
            shown = _snippet(source, at, close + 2 if close != -1 else None)
            problems.append(
                f"template tags like '{shown}' at line {_line(source, at)} are not supported: "
                "only {{ name }} placeholders are."
            )
            position = at + 2
            continue
        placeholder = PLACEHOLDER_RE.match(source, at)
        if placeholder is None:
            problems.append(_describe_malformed_placeholder(source, at))
            position = at + 2
            continue
        parts.append(source[literal_start:at])
        parts.append(placeholder.group(1))
        literal_start = position = placeholder.end()
    if problems:
        raise TemplateSyntaxError(problems)
    parts.append(source[literal_start:])
    return CompiledTemplate(parts=tuple(parts), variables=tuple(dict.fromkeys(parts[1::2])))


def stringify(value) -> str:
    """A variable's value as text: strings as they are, null as empty, anything else as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class CompiledContent:
    """All the template fields of one version, compiled, with the variables they use in order."""

    fields: dict[str, CompiledTemplate]
    data: dict[str, CompiledTemplate]
    variables: tuple[str, ...]
    html_fields: frozenset[str] = frozenset()
    single_line_fields: frozenset[str] = frozenset()

    def render(self, variables: Mapping) -> dict:
        """Rendered fields plus ``data``; raise MissingVariablesError naming every missing one.

        Values are HTML-escaped in the HTML fields only; in single-line fields (an email
        subject is a header) line breaks in values become spaces. Extra variables are ignored.
        """
        missing = [name for name in self.variables if name not in variables]
        if missing:
            raise MissingVariablesError(missing)
        text = {name: stringify(variables[name]) for name in self.variables}
        escaped = None
        rendered = {}
        for field, template in self.fields.items():
            if field in self.html_fields:
                if escaped is None:
                    escaped = {name: html.escape(value, quote=True) for name, value in text.items()}
                rendered[field] = template.render(escaped)
            elif field in self.single_line_fields:
                rendered[field] = template.render({name: _one_line(value) for name, value in text.items()})
            else:
                rendered[field] = template.render(text)
        rendered["data"] = {key: template.render(text) for key, template in self.data.items()}
        return rendered


def _one_line(value: str) -> str:
    return " ".join(value.splitlines()) if ("\n" in value or "\r" in value) else value


def compile_content(
    fields: Mapping[str, str],
    data: Mapping[str, str] | None = None,
    *,
    html_fields: frozenset[str] = frozenset(),
    single_line_fields: frozenset[str] = frozenset(),
) -> CompiledContent:
    """Compile every field and data value; raise ContentSyntaxError with the problems per field."""
    errors: dict = {}
    compiled_fields: dict[str, CompiledTemplate] = {}
    compiled_data: dict[str, CompiledTemplate] = {}
    for field, source in fields.items():
        try:
            compiled_fields[field] = compile_template(source)
        except TemplateSyntaxError as exc:
            errors[field] = exc.problems
    for key, source in (data or {}).items():
        try:
            compiled_data[key] = compile_template(source)
        except TemplateSyntaxError as exc:
            errors.setdefault("data", {})[key] = exc.problems
    if errors:
        raise ContentSyntaxError(errors)
    names: dict[str, None] = {}
    for template in (*compiled_fields.values(), *compiled_data.values()):
        names.update(dict.fromkeys(template.variables))
    return CompiledContent(
        fields=compiled_fields,
        data=compiled_data,
        variables=tuple(names),
        html_fields=html_fields,
        single_line_fields=single_line_fields,
    )


def compile_version_content(content: Mapping) -> CompiledContent:
    """Compile a version's fields (plus ``data`` for push) with the platform's escaping rules."""
    fields = {field: value for field, value in content.items() if field != "data"}
    return compile_content(fields, content.get("data"), html_fields=HTML_FIELDS, single_line_fields=SINGLE_LINE_FIELDS)


def render_channel_fields(channel: str, compiled: CompiledContent, variables: Mapping) -> dict:
    """The rendered fields of a channel as the substitute endpoint answers them.

    Email: ``subject``, ``text_body``, ``html_body`` (None when empty); push: ``title``,
    ``body``, ``image_url`` (None when empty) and ``data``. Raises MissingVariablesError.
    """
    rendered = compiled.render(variables)
    if channel == EMAIL_CHANNEL:
        return {
            "subject": rendered["subject"],
            "text_body": rendered["text_body"],
            "html_body": rendered.get("html_body") or None,
        }
    return {
        "title": rendered["title"],
        "body": rendered["body"],
        "image_url": rendered.get("image_url") or None,
        "data": rendered["data"],
    }
