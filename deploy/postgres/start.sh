#!/bin/sh
# Starts a PostgreSQL node of the compose stack (compose.yaml), as a primary or a standby.
#
# With STANDBY_OF set (the primary's host) and an empty data directory, the node first copies
# that primary with pg_basebackup, which also writes the standby's settings (standby.signal and
# primary_conninfo): the node then starts as a streaming, hot standby. In every other case this
# is the image's own start: an empty data directory is initialised as a new primary (running
# init-primary.sh), and a data directory that exists starts as what it is, primary or standby.
set -eu

if [ -n "${STANDBY_OF:-}" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    chown postgres:postgres "$PGDATA"
    chmod 700 "$PGDATA"
    until pg_isready --quiet --host="$STANDBY_OF" --port=5432; do
        echo "standby: waiting for the primary $STANDBY_OF"
        sleep 1
    done
    echo "standby: copying $STANDBY_OF"
    gosu postgres env PGPASSWORD="$REPLICATION_PASSWORD" pg_basebackup \
        --host="$STANDBY_OF" --port=5432 --username=replicator --pgdata="$PGDATA" \
        --wal-method=stream --checkpoint=fast --write-recovery-conf
fi

exec docker-entrypoint.sh "$@"
