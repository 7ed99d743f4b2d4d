"""The response envelope every JSON response uses (DESIGN.md section 3)."""

from rest_framework import status as http_status
from rest_framework.response import Response


def envelope(*, success: bool = True, data=None, error: str | None = None, message: str = "", meta=None) -> dict:
    return {"success": success, "data": data, "error": error, "message": message, "meta": meta}


def ok(data=None, *, message: str = "", status: int = http_status.HTTP_200_OK, meta=None, headers=None) -> Response:
    """A successful envelope response; views call this instead of building dicts by hand."""
    return Response(envelope(success=True, data=data, message=message, meta=meta), status=status, headers=headers)
