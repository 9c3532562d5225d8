#!/usr/bin/env bash
# Reference test on real data: the CDNOW sample (6,919 purchases of 2,357
# customers), 39-week calibration period ending 1997-09-30, time in weeks.
#  - crm.clv_summary of the raw purchases equals the published calibration
#    summary (cdnowSummary_cbs.csv) for every customer;
#  - crm.bgnbd_fit reproduces the published BG/NBD estimates of Fader, Hardie
#    and Lee (2005) to their precision: r = 0.243, alpha = 4.414, a = 0.793,
#    b = 2.426, log-likelihood -9582.4;
#  - crm.paretonbd_fit and crm.gamma_gamma_fit agree to 1e-4 (relative) with
#    the maximum likelihood estimates SciPy finds on the same summary, with
#    likelihoods written independently in test/clv_reference.py (SciPy's
#    hyp2f1 for Pareto/NBD; L-BFGS-B then Nelder-Mead).
# Skips (exit 0) when the data is absent; the SciPy part says "skipped" when
# SciPy is not installed.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
dir=${CRM_DATA_DIR:-$top/../shared/data}/cdnow
if [ ! -r "$dir/CDNOW_sample.txt" ] || [ ! -r "$dir/cdnowSummary_cbs.csv" ]; then
    echo "SKIP: $dir/CDNOW_sample.txt not found; the CDNOW reference test needs ../shared/data"
    exit 0
fi

db=crm_clv_cdnow_$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/clv_cdnow.XXXXXX")
chmod 755 "$tmp"
cleanup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"

fail=0
out=$(psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" <<SQL
CREATE EXTENSION crm;
SET TimeZone = 'UTC';
CREATE TABLE raw (line text);
\copy raw FROM PROGRAM 'tr -d "\\\\r" < "$dir/CDNOW_sample.txt"'
-- master_id, sample_id, date YYYYMMDD, number of CDs, dollars
CREATE TABLE cdnow AS
SELECT split_part(l, ' ', 2)::int AS customer, to_date(split_part(l, ' ', 3), 'YYYYMMDD')::timestamptz AS bought,
       split_part(l, ' ', 5)::numeric AS dollars
  FROM (SELECT regexp_replace(btrim(line), '\s+', ' ', 'g') AS l FROM raw WHERE btrim(line) <> '') r;
CREATE TABLE cbs (cust int, x float8, t_x float8, t_cal float8, x_star float8, m_x float8);
\copy cbs FROM '$dir/cdnowSummary_cbs.csv' WITH (FORMAT csv, HEADER true)
SELECT 'purchases: ' || count(*) || ', customers: ' || count(DISTINCT customer) FROM cdnow;
CREATE TABLE summary AS SELECT * FROM crm.clv_summary('1997-09-30', 'week', 'cdnow', 'customer', 'bought', 'dollars');
SELECT 'summary rows differing from the published one: ' || count(*)
  FROM summary s FULL JOIN cbs c ON c.cust = s.customer_id
 WHERE s.customer_id IS NULL OR c.cust IS NULL OR s.x <> c.x
    OR abs(s.t_x - c.t_x) > 1e-9 OR abs(s.t_cal - c.t_cal) > 1e-9 OR abs(coalesce(s.mean_spend, 0) - c.m_x) > 1e-9;
SELECT 'bgnbd: ' || round(r::numeric, 3) || ' ' || round(alpha::numeric, 3) || ' ' || round(a::numeric, 3) || ' '
       || round(b::numeric, 3) || ' ' || round(loglik::numeric, 1) || ' ' || n || ' ' || converged
  FROM (SELECT (crm.bgnbd_fit(x, t_x, t_cal)).* FROM summary) f;
CREATE TABLE fits AS
SELECT (SELECT crm.paretonbd_fit(x, t_x, t_cal) FROM summary) AS pn, (SELECT crm.gamma_gamma_fit(x, mean_spend) FROM summary) AS gg;
SELECT 'paretonbd=' || (pn).r || ',' || (pn).alpha || ',' || (pn).s || ',' || (pn).beta || ',' || (pn).loglik || ',' || (pn).converged FROM fits;
SELECT 'gg=' || (gg).p || ',' || (gg).q || ',' || (gg).v || ',' || (gg).loglik || ',' || (gg).converged FROM fits;
\copy (SELECT x, t_x, t_cal FROM summary) TO '$tmp/xtT.csv' WITH (FORMAT csv)
\copy (SELECT x, mean_spend FROM summary WHERE x > 0) TO '$tmp/spend.csv' WITH (FORMAT csv)
SQL
)
echo "$out"
if ! echo "$out" | grep -qx 'summary rows differing from the published one: 0'; then
    echo "FAILED: crm.clv_summary differs from the published calibration summary"
    fail=1
fi
want='bgnbd: 0.243 4.414 0.793 2.426 -9582.4 2357 true'
if ! echo "$out" | grep -qx "$want"; then
    echo "FAILED: BG/NBD estimates differ from the published ones ($want)"
    fail=1
else
    echo "ok: BG/NBD reproduces the published estimates"
fi

py=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import scipy.optimize, scipy.special' >/dev/null 2>&1; then
        py=$p
        break
    fi
done
if [ -z "$py" ]; then
    echo "skipped: SciPy is not installed; Pareto/NBD and Gamma-Gamma not compared (apt-get install python3-scipy)"
    exit $fail
fi

# Compares our estimates (name=value from the SQL above) with SciPy's.
compare() {
    local model=$1 ours=$2 file=$3 names=$4
    local ref
    ref=$("$py" "$top/test/clv_reference.py" fit "$model" "$file")
    echo "SciPy $model: $(echo "$ref" | tr '\n' ' ')"
    awk -v ours="$ours" -v names="$names" -v ref="$ref" -v model="$model" 'BEGIN {
        n = split(ours, o, ","); split(names, nm, ",")
        split(ref, lines, "\n")
        for (i in lines) { split(lines[i], kv, "="); want[kv[1]] = kv[2] }
        bad = 0
        for (i = 1; i <= n - 1; i++) {
            k = nm[i]
            if (k == "loglik") d = o[i] - want[k]; else d = (o[i] - want[k]) / want[k]
            if (d < 0) d = -d
            tol = (k == "loglik") ? 1e-3 : 1e-4
            printf "  %-10s %-22s %-22s %s\n", model "." k, o[i], want[k], (d <= tol ? "ok" : "DIFFERS")
            if (d > tol) bad = 1
        }
        if (o[n] != "true") { print "  " model ": not converged"; bad = 1 }
        exit bad
    }'
}
pn=$(echo "$out" | sed -n 's/^paretonbd=//p')
gg=$(echo "$out" | sed -n 's/^gg=//p')
compare paretonbd "$pn" "$tmp/xtT.csv" "r,alpha,s,beta,loglik" || fail=1
compare gg "$gg" "$tmp/spend.csv" "p,q,v,loglik" || fail=1
if [ "$fail" -ne 0 ]; then
    echo "FAILED"
    exit 1
fi
echo "ok: Pareto/NBD and Gamma-Gamma agree with SciPy to 1e-4"
