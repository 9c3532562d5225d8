#!/usr/bin/env bash
# make fuzz: (1) FUZZ_ITERATIONS (default 1,000,000) random and mutated byte
# strings through the email and phone parsers, built with AddressSanitizer and
# UndefinedBehaviorSanitizer; (2) FUZZ_SQL (default 20,000) random strings and
# 2,000 random binary payloads through the real input and receive functions in
# a running server.  Exits non-zero on any finding.
source "$(dirname "$0")/lib.sh"

iterations=${FUZZ_ITERATIONS:-1000000}
seed=${FUZZ_SEED:-$(date +%s)}
bin=$(mktemp -d)/fuzz_types
flags="-fsanitize=address,undefined -fno-sanitize-recover=all"
if ! echo 'int main(void){return 0;}' | gcc $flags -x c -o /dev/null - 2>/dev/null; then
    crm_log "sanitizers not available; building the fuzz driver without them"
    flags=""
fi
# shellcheck disable=SC2086
gcc -O1 -g $flags -Wall -Wextra -Werror -I"$CRM_TOP/src" -o "$bin" \
    "$CRM_TOP/test/fuzz/fuzz_types.c" "$CRM_TOP/src/email_core.c" "$CRM_TOP/src/phone_core.c"
crm_log "parser fuzzing: $iterations inputs, seed $seed"
"$bin" "$iterations" "$seed"
rm -rf "$(dirname "$bin")"

crm_build
crm_start
crm_psql -c "CREATE EXTENSION crm"
crm_log "server fuzzing"
PGOPTIONS="-c crm_fuzz.binary=${FUZZ_BINARY:-2000} -c crm_fuzz.states=${FUZZ_STATES:-5000}" crm_psql -v n="${FUZZ_SQL:-20000}" -f "$CRM_TOP/test/fuzz/fuzz.sql"
crm_psql -c "SELECT 1 AS server_still_up" >/dev/null
echo "fuzz: no findings"
