"""The JSON parser every service uses: deeply nested bodies are a parse error, and text no
field can hold (NUL, lone surrogates) a validation error naming the field, never a 500."""

from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from notification_common.validation import find_unsafe_text


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        problems = find_unsafe_text(data)
        if problems:
            errors: dict[str, list[str]] = {}
            for path, message in problems:
                errors.setdefault(path, []).append(message)
            raise ValidationError(errors)
        return data
