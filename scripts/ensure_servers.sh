#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer on 127.0.0.1.
# Starts a server that is installed but stopped; with --install, installs a missing one
# from Debian packages (needs root); otherwise says exactly what is missing.
set -u

INSTALL=0
[ "${1:-}" = "--install" ] && INSTALL=1

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 i
  for i in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 1
  done
  echo "ensure_servers: $name did not start listening on 127.0.0.1:$port" >&2
  return 1
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {
  if [ "$INSTALL" -ne 1 ]; then
    echo "ensure_servers: $1 is not installed. Install the Debian package(s): $2 (or run: bash .ci/run)" >&2
    return 1
  fi
  echo "ensure_servers: installing $2"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $2 >/dev/null
}

ensure_postgres() {
  port_open 5432 && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install PostgreSQL postgresql || return 1
    # Trust local connections for the postgres role, as the project's machines do.
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "ensure_servers: starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 PostgreSQL
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || apt_install Redis redis-server || return 1
  echo "ensure_servers: starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  wait_port 6379 Redis
}

ensure_rabbitmq() {
  port_open 5672 && return 0
  command -v rabbitmq-server >/dev/null || [ -x /usr/sbin/rabbitmq-server ] || apt_install RabbitMQ rabbitmq-server || return 1
  echo "ensure_servers: starting RabbitMQ"
  as_root rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 RabbitMQ
}

status=0
ensure_postgres || status=1
ensure_redis || status=1
ensure_rabbitmq || status=1
exit $status
