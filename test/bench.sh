#!/usr/bin/env bash
# make bench: side-by-side timings against the plain SQL a user would write.
# Each section is a script test/bench/NN_name.sh, sourced in order with a
# running cluster and a database "bench" holding the extension.  Run one
# section with BENCH=name (e.g. make bench BENCH=quality).
source "$(dirname "$0")/lib.sh"

crm_build
crm_start
crm_psql -c "CREATE DATABASE bench"
export PGDATABASE=bench
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
crm_psql -c "CREATE EXTENSION crm"

# Prints the best of N runs of a query, in milliseconds (psql's \timing).
bench_ms() {
    local runs=$1 sql=$2 best="" t
    for _ in $(seq "$runs"); do
        t=$( { echo '\timing on'; echo "$sql"; } | psql -X -q -o /dev/null 2>&1 | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -1)
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    done
    echo "$best"
}

# Prints a table row: label, milliseconds, ratio to a reference time.
bench_row() {
    awk -v l="$1" -v t="$2" -v r="$3" 'BEGIN { printf "  %-58s %10.1f ms  %6.2fx\n", l, t, t / r }'
}

for s in "$CRM_TOP"/test/bench/*.sh; do
    [ -e "$s" ] || continue
    name=$(basename "$s" .sh); name=${name#*_}
    if [ -n "${BENCH:-}" ] && [ "$BENCH" != "$name" ]; then continue; fi
    echo
    echo "## $name"
    # shellcheck disable=SC1090
    source "$s"
done
