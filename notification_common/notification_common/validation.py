"""Text a service refuses before it reaches a database, a template or an SMTP header.

- Anywhere in a JSON body (``parsers.BoundedJSONParser``): NUL (PostgreSQL cannot store it
  in text or jsonb: a 500 before) and lone surrogates (not encodable as UTF-8: a 500 when
  saved or rendered). The error names the field by its path, ``variables.name`` or
  ``reports.0.metadata.note``.
- In single-line names (key names, template names, subjects), also control characters and
  line or paragraph separators: ``SingleLineTextValidator`` on the serializer field.
"""

import unicodedata

from rest_framework import serializers

NUL_MESSAGE = "Must not contain NUL characters (\\u0000)."
SURROGATE_MESSAGE = "Must not contain unpaired surrogates (\\ud800-\\udfff)."
CONTROL_MESSAGE = "Must be a single line of text without control characters."

# Cc: C0/C1 controls (tab, newline, escape, ...); Cs: surrogates; Zl/Zp: line and paragraph separators.
_SINGLE_LINE_FORBIDDEN = frozenset({"Cc", "Cs", "Zl", "Zp"})


def text_problem(value: str) -> str | None:
    """What makes ``value`` unsafe in any text field, or None."""
    if "\x00" in value:
        return NUL_MESSAGE
    if _has_surrogate(value):
        return SURROGATE_MESSAGE
    return None


def _has_surrogate(value: str) -> bool:
    # json decodes a "\ud83d\ude00" pair into one character; only unpaired halves remain here.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def find_unsafe_text(data) -> list[tuple[str, str]]:
    """Every (path, message) where parsed JSON holds unsafe text, in keys or values, at any depth.

    Iterative, so a body nested as deeply as the JSON decoder allows cannot overflow the stack.
    """
    problems: list[tuple[str, str]] = []
    stack: list[tuple[str, object]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                problems.append((path or "non_field_errors", problem))
        elif isinstance(value, dict):
            for key, item in value.items():
                key_problem = text_problem(key)
                if key_problem:
                    # The key itself cannot be echoed safely: name where it sits.
                    problems.append(
                        (path or "non_field_errors", f"Has a key that {key_problem[0].lower()}{key_problem[1:]}")
                    )
                    continue
                stack.append((f"{path}.{key}" if path else key, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}" if path else str(index), item) for index, item in enumerate(value))
    return sorted(problems)


class SingleLineTextValidator:
    """For names and subjects: one line of printable text (no control characters, NUL,
    surrogates or line separators). Use as ``CharField(validators=[SingleLineTextValidator()])``."""

    message = CONTROL_MESSAGE

    def __call__(self, value) -> None:
        if not isinstance(value, str):
            return
        problem = text_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        if any(unicodedata.category(char) in _SINGLE_LINE_FORBIDDEN for char in value):
            raise serializers.ValidationError(self.message)

    def __eq__(self, other) -> bool:  # validators are compared by migrations and DRF
        return isinstance(other, SingleLineTextValidator)

    def __hash__(self) -> int:
        return hash(type(self))
