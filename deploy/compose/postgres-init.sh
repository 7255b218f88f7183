#!/bin/sh
# Runs once, on the cluster's first start (the postgres image's
# /docker-entrypoint-initdb.d). Each database gets its own role, so a leaked
# service credential opens one database only. Passwords come from .env;
# changing them later needs ALTER ROLE too, because this never runs again.
set -e

create() {
	# psql's :'pw' quoting keeps the password out of the SQL text's syntax.
	psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
		-v name="$1" -v pw="$2" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'pw';
CREATE DATABASE :"name" OWNER :"name";
SQL
}

create kratos "${KRATOS_DB_PASSWORD:?}"
create hydra "${HYDRA_DB_PASSWORD:?}"
create platform "${PLATFORM_DB_PASSWORD:?}"
