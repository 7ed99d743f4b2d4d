"""Shared infrastructure for the notification platform's services.

Infrastructure only: envelope, errors, auth, HTTP client, RabbitMQ, health, logging,
metrics and test helpers. No domain models or business rules live here (docs/architecture.md).
"""
