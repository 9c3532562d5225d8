# Shared by test/run.sh, demo.sh, bench.sh and fuzz.sh: build the extension,
# stage it into a private copy of the PostgreSQL installation, and run a
# throwaway cluster from that copy.  The private copy means the same steps work
# for root and for an ordinary user who cannot write to the system directories.
# shellcheck shell=bash

set -euo pipefail

CRM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CRM_TOP
PG_CONFIG=${PG_CONFIG:-pg_config}
if [ "$PG_CONFIG" = pg_config ] && [ -x /usr/lib/postgresql/15/bin/pg_config ]; then
    PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
fi

export PG_CONFIG

crm_log() { printf '== %s\n' "$*" >&2; }

# Runs a command as the user that owns the cluster (postgres when we are root).
crm_as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Installs missing packages (as root) and builds with warnings as errors.
crm_build() {
    sh "$CRM_TOP/test/deps.sh"
    PG_CONFIG=$("$PG_CONFIG" --bindir)/pg_config
    crm_log "building"
    make -s -C "$CRM_TOP" PG_CONFIG="$PG_CONFIG" >/dev/null
    if [ "$(id -u)" = 0 ]; then
        crm_log "installing into $("$PG_CONFIG" --sharedir)"
        make -s -C "$CRM_TOP" PG_CONFIG="$PG_CONFIG" install >/dev/null
    fi
}

# Creates $CRM_TMP with a private installation (system files linked, ours
# copied in), initialises a cluster and starts it on a free port.
crm_start() {
    CRM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/crm-XXXXXX")
    chmod 755 "$CRM_TMP"
    trap crm_stop EXIT
    local bindir sharedir pkglibdir inst stage
    bindir=$("$PG_CONFIG" --bindir)
    sharedir=$("$PG_CONFIG" --sharedir)
    pkglibdir=$("$PG_CONFIG" --pkglibdir)
    inst=$CRM_TMP/inst
    stage=$CRM_TMP/stage
    make -s -C "$CRM_TOP" PG_CONFIG="$PG_CONFIG" install DESTDIR="$stage" >/dev/null
    mkdir -p "$inst$bindir" "$inst$pkglibdir" "$inst$sharedir/extension"
    cp "$bindir/postgres" "$bindir/initdb" "$bindir/pg_ctl" "$inst$bindir/"
    local f
    for f in "$pkglibdir"/*; do ln -s "$f" "$inst$pkglibdir/"; done
    for f in "$sharedir"/*; do
        [ "$(basename "$f")" = extension ] || ln -s "$f" "$inst$sharedir/"
    done
    for f in "$sharedir"/extension/*; do ln -s "$f" "$inst$sharedir/extension/"; done
    rm -f "$inst$sharedir"/extension/crm.control "$inst$sharedir"/extension/crm--*.sql "$inst$pkglibdir/crm.so"
    cp "$stage$sharedir"/extension/crm* "$inst$sharedir/extension/"
    cp "$stage$pkglibdir/crm.so" "$inst$pkglibdir/"
    CRM_BIN=$inst$bindir
    if [ -n "${CRM_VALGRIND:-}" ]; then
        # Run every server process under Valgrind's memcheck, one log per process.
        mkdir -p "$CRM_TMP/valgrind"
        chmod 1777 "$CRM_TMP/valgrind"
        mv "$CRM_BIN/postgres" "$CRM_BIN/postgres.real"
        cat >"$CRM_BIN/postgres" <<WRAP
#!/bin/sh
TMPDIR=$CRM_TMP/valgrind exec valgrind --quiet --error-limit=no --leak-check=no --num-callers=30 --trace-children=no \\
    --log-file=$CRM_TMP/valgrind/%p.log "$CRM_BIN/postgres.real" "\$@"
WRAP
        chmod 755 "$CRM_BIN/postgres"
    fi
    CRM_DATA=$CRM_TMP/data
    mkdir -p "$CRM_DATA" "$CRM_TMP/run"
    if [ "$(id -u)" = 0 ]; then chown postgres "$CRM_DATA" "$CRM_TMP/run"; fi
    crm_as_owner "$CRM_BIN/initdb" -D "$CRM_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$CRM_TMP/run/initdb.log" 2>&1 \
        || { cat "$CRM_TMP/run/initdb.log" >&2; return 1; }
    local port
    for port in $(shuf -i 50001-59999 -n 20); do
        ss -ltn 2>/dev/null | grep -q ":$port " || break
    done
    {
        echo "port = $port"
        echo "listen_addresses = ''"
        echo "unix_socket_directories = '$CRM_TMP/run'"
        echo "fsync = off"
        echo "max_worker_processes = 8"
        echo "max_parallel_workers_per_gather = 2"
        echo "shared_buffers = '256MB'"
        echo "work_mem = '64MB'"
        echo "maintenance_work_mem = '256MB'"
        echo "log_min_messages = warning"
        echo "${CRM_EXTRA_CONF:-}"
    } >>"$CRM_DATA/postgresql.conf"
    crm_as_owner "$CRM_BIN/pg_ctl" -D "$CRM_DATA" -l "$CRM_TMP/run/server.log" -w start >/dev/null \
        || { cat "$CRM_TMP/run/server.log" >&2; return 1; }
    export PGHOST=$CRM_TMP/run PGPORT=$port PGUSER=postgres PGDATABASE=postgres
    export CRM_TMP CRM_BIN CRM_DATA
    crm_log "cluster running on port $port in $CRM_TMP"
}

# Stops the cluster and removes the temporary directory.
crm_stop() {
    if [ -n "${CRM_DATA:-}" ] && [ -f "$CRM_DATA/postmaster.pid" ]; then
        crm_as_owner "$CRM_BIN/pg_ctl" -D "$CRM_DATA" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "${CRM_TMP:-}" ] && [ -z "${CRM_KEEP_TMP:-}" ]; then
        rm -rf "$CRM_TMP"
    fi
}

# psql with the settings every script wants.
crm_psql() {
    psql -X -q -v ON_ERROR_STOP=1 "$@"
}

# Runs the pg_regress tests of the Makefile's REGRESS list against the running
# cluster, writing results/, regression.diffs and out.txt into $1.
crm_regress() {
    local outdir=$1 tests pg_regress
    mkdir -p "$outdir/results"
    chmod 1777 "$outdir" "$outdir/results"   # the server writes COPY files here
    tests=$(make -s -C "$CRM_TOP" PG_CONFIG="$PG_CONFIG" print-REGRESS)
    pg_regress=$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress
    crm_log "pg_regress: $tests"
    # shellcheck disable=SC2086
    "$pg_regress" --host="$PGHOST" --port="$PGPORT" --user=postgres \
        --inputdir="$CRM_TOP" --outputdir="$outdir" --bindir="$("$PG_CONFIG" --bindir)" \
        --dbname=crm_regression --load-extension=crm $tests >"$outdir/out.txt" 2>&1 || true
    CRM_REGRESS_TESTS=$tests
}
