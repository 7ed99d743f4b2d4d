"""The template service's error codes and the domain errors that carry them."""

from rest_framework import status

from notification_common.exceptions import ApplicationError, ErrorCode


class TemplateErrorCode:
    TEMPLATE_NOT_FOUND = "template_not_found"
    VERSION_NOT_FOUND = "version_not_found"
    MISSING_VARIABLES = "missing_variables"
    TEMPLATE_EXISTS = "template_exists"
    VALIDATION_ERROR = ErrorCode.VALIDATION_ERROR


class TemplateNotFound(ApplicationError):
    def __init__(self, code: str):
        super().__init__(
            TemplateErrorCode.TEMPLATE_NOT_FOUND,
            f"Template '{code}' does not exist.",
            status.HTTP_404_NOT_FOUND,
            data={"template_code": code},
        )


class VersionNotFound(ApplicationError):
    def __init__(self, code: str, language: str, version: int):
        super().__init__(
            TemplateErrorCode.VERSION_NOT_FOUND,
            f"Template '{code}' has no version {version} in language '{language}'.",
            status.HTTP_404_NOT_FOUND,
            data={"template_code": code, "language": language, "version": version},
        )


class MissingVariables(ApplicationError):
    def __init__(self, missing: list[str]):
        super().__init__(
            TemplateErrorCode.MISSING_VARIABLES,
            f"Missing variables: {', '.join(missing)}.",
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            data={"missing": missing},
        )


class TemplateExists(ApplicationError):
    def __init__(self, code: str):
        super().__init__(
            TemplateErrorCode.TEMPLATE_EXISTS,
            f"A template with code '{code}' already exists.",
            status.HTTP_409_CONFLICT,
            data={"code": [f"A template with code '{code}' already exists."]},
        )


class InvalidTemplateInput(ApplicationError):
    """Field errors found by the services (the API's serializers check only shapes and types)."""

    def __init__(self, errors: dict, message: str = "Invalid input."):
        super().__init__(TemplateErrorCode.VALIDATION_ERROR, message, status.HTTP_400_BAD_REQUEST, data=errors)
        self.errors = errors
