"""What the admin API modules share: validated input, and the schema of answers passed on."""

from drf_spectacular.types import OpenApiTypes

ANY = OpenApiTypes.OBJECT  # answers passed on from another service, shaped by its contract
ANY_LIST = {"type": "array", "items": {"type": "object"}}  # a page of them (meta: the upstream's)


def query_validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def body_validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
