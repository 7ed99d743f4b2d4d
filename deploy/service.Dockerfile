# One image recipe for the six services: build from the repository root with the service's
# directory and port, e.g.
#   docker build -f deploy/service.Dockerfile --build-arg SERVICE=api_gateway_service --build-arg PORT=8000 .
# Production images hold the runtime library only: no dev requirements, no test tooling.
FROM python:3.11-slim

ARG SERVICE
ARG PORT=8000

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=${PORT}

RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<service directory>" >&2 && exit 1) \
    && groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app

WORKDIR /app
# Dependencies first, so code changes do not invalidate the dependency layer.
COPY requirements-base.txt /app/requirements-base.txt
COPY ${SERVICE}/requirements.txt /app/${SERVICE}/requirements.txt
RUN pip install -r /app/${SERVICE}/requirements.txt
COPY notification_common /app/notification_common
RUN pip install --no-deps /app/notification_common

COPY ${SERVICE} /app/${SERVICE}
WORKDIR /app/${SERVICE}
RUN mkdir -p /app/var && chown -R 10001:10001 /app/var
USER 10001:10001

EXPOSE ${PORT}
CMD ["gunicorn", "-c", "python:notification_common.gunicorn_conf", "config.wsgi"]
