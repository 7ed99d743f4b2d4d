#!/bin/bash
# Runs once, when the postgres container initialises an empty data volume
# (/docker-entrypoint-initdb.d): one role and one database per service, each role owning
# only its own database. Passwords come from the environment (docker-compose.yml passes
# <SERVICE>_DB_PASSWORD); the defaults are for a local machine only.
set -euo pipefail

create_service_database() {
  local role=$1 database=$2 password=$3
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v role="$role" -v database="$database" -v password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
SQL
  echo "init: database $database owned by role $role"
}

create_service_database api_gateway_service api_gateway_db "${GATEWAY_DB_PASSWORD:-api_gateway_service}"
create_service_database user_service user_db "${USER_DB_PASSWORD:-user_service}"
create_service_database template_service template_db "${TEMPLATE_DB_PASSWORD:-template_service}"
create_service_database email_service email_db "${EMAIL_DB_PASSWORD:-email_service}"
create_service_database push_service push_db "${PUSH_DB_PASSWORD:-push_service}"
create_service_database admin_service admin_db "${ADMIN_DB_PASSWORD:-admin_service}"
