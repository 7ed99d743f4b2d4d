"""The admin API (/api/v1/admin/...), one module per topic as in services/: thin views over
services, selectors and clients (urls.py names each view by its module).

Every view needs an admin token (settings: AdminJWTAuthentication + IsAdminUser), except
login/refresh (no credential yet) and the key check (another service's internal key).
Nested serializers carry their OpenAPI component names (extend_schema_serializer), as the
views all call theirs InputSerializer/FilterSerializer/OutputSerializer.
"""
