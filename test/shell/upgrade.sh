#!/usr/bin/env bash
# Every released version updates to the current one and ends exactly where a
# fresh install does: same objects, definitions, comments, grants, policies,
# dump registrations and shipped configuration rows.  Runs against the
# cluster started by test/run.sh (PGHOST, PGPORT, PGUSER are set).
set -euo pipefail
top=${CRM_TOP:?}
work=$(mktemp -d)
dbs=()
cleanup() {
    rm -rf "$work"
    for db in "${dbs[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$top/crm.control")

fingerprint() {
    q -d "$1" -f "$top/test/shell/catalog_fingerprint.sql"
    # Rows the extension ships in its configuration tables.
    for t in $(q -d "$1" -At -c "SELECT cfg::regclass FROM pg_extension e, unnest(e.extconfig) cfg WHERE e.extname = 'crm' ORDER BY 1"); do
        if q -d "$1" -At -c "SELECT 1 FROM pg_attribute WHERE attrelid = '$t'::regclass AND attname = 'builtin'" | grep -q 1; then
            q -d "$1" -At -c "SELECT '$t ' || t::text FROM $t t WHERE builtin ORDER BY 1"
        fi
    done
}

q -d postgres -c "CREATE DATABASE crm_upgrade_fresh"; dbs+=(crm_upgrade_fresh)
q -d crm_upgrade_fresh -c "CREATE EXTENSION crm"
fingerprint crm_upgrade_fresh >"$work/fresh.txt"
lines=$(wc -l <"$work/fresh.txt")
[ "$lines" -gt 500 ] || { echo "fingerprint of a fresh install has only $lines lines"; exit 1; }

# The released versions are the install scripts kept in src/history.
versions=$(ls "$top"/src/history/crm--*.sql | sed -n 's|.*/crm--\([0-9.]*\)\.sql$|\1|p' | sort -V)
[ -n "$versions" ] || { echo "no released version in src/history"; exit 1; }
n=0
for v in $versions; do
    [ "$v" = "$current" ] && continue
    db="crm_upgrade_${v//./_}"
    q -d postgres -c "CREATE DATABASE $db"; dbs+=("$db")
    q -d "$db" -c "CREATE EXTENSION crm VERSION '$v'"
    # Some data in the old version, which the update must keep.
    q -d "$db" -v customers=200 -f "$top/test/demo/00_data.sql" >/dev/null
    before=$(q -d "$db" -At -c "SELECT count(*) || ' ' || md5(string_agg(p::text, '|' ORDER BY p.id)) FROM crm.purchase p")
    q -d "$db" -c "ALTER EXTENSION crm UPDATE"
    got=$(q -d "$db" -At -c "SELECT extversion FROM pg_extension WHERE extname = 'crm'")
    [ "$got" = "$current" ] || { echo "update from $v ended at version $got, not $current"; exit 1; }
    after=$(q -d "$db" -At -c "SELECT count(*) || ' ' || md5(string_agg(p::text, '|' ORDER BY p.id)) FROM crm.purchase p")
    [ "$before" = "$after" ] || { echo "update from $v changed crm.purchase: $before -> $after"; exit 1; }
    fingerprint "$db" >"$work/updated-$v.txt"
    if ! diff -u "$work/fresh.txt" "$work/updated-$v.txt" >"$work/diff-$v.txt"; then
        echo "update from $v differs from a fresh install of $current (- fresh, + updated):"
        head -60 "$work/diff-$v.txt"
        exit 1
    fi
    echo "update $v -> $current: $lines catalog facts equal to a fresh install, data kept"
    n=$((n + 1))
done
[ "$n" -gt 0 ] || echo "no earlier released version to update from"
