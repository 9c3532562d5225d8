#!/usr/bin/env bash
# make valgrind: the pg_regress suite with every server process under
# Valgrind's memcheck.  Reports the errors whose stack passes through crm.so
# (PostgreSQL's own are not ours to fix) and exits non-zero if there are any.
source "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
crm_build
CRM_VALGRIND=1 crm_start
crm_regress "$CRM_TMP/regress"
grep -E '\.\.\. (ok|FAILED|failed)' "$CRM_TMP/regress/out.txt" || cat "$CRM_TMP/regress/out.txt"

# Each error block in a log starts with a line "==PID== <kind>" and ends with an empty "==PID==" line.
# Frames in our code show our source file names (we build with -g) or crm.so.
ours_re="crm\\.so|\\(($(cd "$CRM_TOP/src" && ls *.c | sed 's/\.c$//' | paste -sd'|'))\\.c:"
ours=0
for log in "$CRM_TMP"/valgrind/*.log; do
    [ -s "$log" ] || continue
    n=$(awk -v re="$ours_re" '/^==[0-9]+== [A-Z]/ { block = $0 "\n"; keep = 1; next }
             /^==[0-9]+== *$/ { if (keep && block ~ re) { printf "%s\n", block; c++ } keep = 0; next }
             keep { block = block $0 "\n" }
             END { exit c > 0 }' "$log" >>"$CRM_TMP/ours.txt"; echo $?)
    [ "$n" = 0 ] || ours=1
done
total=$(cat "$CRM_TMP"/valgrind/*.log 2>/dev/null | grep -cE '^==[0-9]+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination)' || true)
if [ "$ours" != 0 ]; then
    cat "$CRM_TMP/ours.txt"
    echo "valgrind: errors in crm.so (above); $total error reports in all"
    exit 1
fi
echo "valgrind: no errors in crm.so ($total error reports in all, none through crm.so)"
