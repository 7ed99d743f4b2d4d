# Development-only image for the loopback SMTP and FCM servers (docker compose --profile dev).
# Build from the repository root: docker build -f deploy/loopback.Dockerfile .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app

WORKDIR /app
# Only what the loopback servers import, at the versions pinned for the whole repository.
COPY requirements-dev.txt /app/requirements-dev.txt
RUN grep -E '^(aiosmtpd|cryptography)==' /app/requirements-dev.txt > /app/requirements-loopback.txt \
    && pip install -r /app/requirements-loopback.txt
COPY notification_common /app/notification_common
COPY notification_devtools /app/notification_devtools
RUN pip install --no-deps /app/notification_common /app/notification_devtools

# /fcm receives the generated service-account file; the push worker mounts it read-only.
RUN mkdir -p /fcm && chown 10001:10001 /fcm
USER 10001:10001

EXPOSE 1025 8025 9099
CMD ["python", "-m", "notification_devtools.loopback.smtp", "--host", "0.0.0.0", "--port", "1025", "--http-port", "8025"]
