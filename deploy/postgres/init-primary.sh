#!/bin/sh
# Runs once, when the image initialises an empty data directory as a new primary
# (/docker-entrypoint-initdb.d). It makes the role a standby copies and streams with, lets
# replication connections in, and makes every commit wait until a standby has it on disk.
set -eu

psql --no-psqlrc -v ON_ERROR_STOP=1 --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" \
    --set=password="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD :'password';
-- Synchronous replication to any one standby. Copied to the standby with the data, so it
-- holds for whichever node is the primary. It takes effect when the server restarts after
-- initialisation: the initialisation itself waits for no standby.
ALTER SYSTEM SET synchronous_standby_names = '*';
SQL

# Replication connections, by password, from any host; pg_basebackup copies this file too.
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
