"""The gateway's PostgreSQL backend (``base.DatabaseWrapper``): Django's, with the per-request
connection health check skipped for a connection in steady use."""
