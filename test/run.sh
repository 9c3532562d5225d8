#!/usr/bin/env bash
# make test: build, install, start a throwaway cluster, run every pg_regress
# test (sql/, expected/), every pgTAP test (test/pgtap/, by pg_prove) and every
# shell test (test/shell/), stop the cluster, print the diffs of any failure
# and end with one line "N passed, M failed".
source "$(dirname "$0")/lib.sh"

crm_build
crm_start

passed=0
failed=0
failures=()

# pg_regress writes results/ and regression.diffs into its output directory.
outdir=$CRM_TMP/regress
crm_regress "$outdir"
regress_tests=$CRM_REGRESS_TESTS
cat "$outdir/out.txt"
# A test that did not report (pg_regress stopped early) counts as failed.
planned=$(echo "$regress_tests" | wc -w)
ok=$(grep -cE '\.\.\. ok ' "$outdir/out.txt" || true)
passed=$((passed + ok))
failed=$((failed + planned - ok))
if [ "$ok" -ne "$planned" ]; then
    failures+=("pg_regress: $((planned - ok)) of $planned tests")
    if [ -f "$outdir/regression.diffs" ]; then cat "$outdir/regression.diffs"; fi
fi

# Runs one test command; counts it and prints its output when it fails.
run_case() {
    local kind=$1 name=$2
    shift 2
    if "$@" >"$CRM_TMP/case.txt" 2>&1; then
        passed=$((passed + 1))
        echo "$kind  $name ... ok"
    else
        failed=$((failed + 1))
        failures+=("$kind $name")
        echo "$kind  $name ... FAILED"
        cat "$CRM_TMP/case.txt"
    fi
}

# pgTAP tests, each file in its own run of pg_prove, in a database with pgtap.
crm_psql -c "CREATE DATABASE crm_tap"
crm_psql -d crm_tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION crm;"
for t in "$CRM_TOP"/test/pgtap/*.sql; do
    [ -e "$t" ] || continue
    run_case pgtap "$(basename "$t")" \
        pg_prove --dbname crm_tap --host "$PGHOST" --port "$PGPORT" --username postgres "$t"
done

# Shell tests: dump/restore round trips and other whole-cluster tests.
for t in "$CRM_TOP"/test/shell/*.sh; do
    [ -e "$t" ] || continue
    run_case shell "$(basename "$t")" bash "$t"
done

if [ ${#failures[@]} -gt 0 ]; then
    echo "failures: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
