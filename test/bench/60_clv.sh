# Bench section: fitting and scoring the CLV models on simulated customers,
# side by side with the same likelihoods minimised by SciPy on the same data.
# Sourced by test/bench.sh (bench_ms, bench_row and a running database "bench").
# shellcheck shell=bash

n=${CLV_BENCH_CUSTOMERS:-1000000}
np=${CLV_BENCH_PARETO_CUSTOMERS:-$n}
runs=${CLV_BENCH_RUNS:-3}
py=""
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy, scipy.optimize, scipy.special' >/dev/null 2>&1; then
        py=$p
        break
    fi
done
if [ -z "$py" ]; then
    echo "skipped: the CLV section simulates its customers with NumPy and compares with SciPy (apt-get install python3-scipy)"
    return 0 2>/dev/null || exit 0
fi
ref="$CRM_TOP/test/clv_reference.py"
csv="$CRM_TMP/clv_bench.csv"
csvp="$CRM_TMP/clv_bench_pareto.csv"
echo "CLV: $n simulated BG/NBD customers (r=0.25, alpha=4, a=0.8, b=2.5; first purchase on a day of one"
echo "year, purchases on whole days, time in weeks; Gamma-Gamma spend p=6, q=4, v=15); Pareto/NBD on the"
echo "first $np of them. crm: best of $runs (Pareto/NBD fit: one run); SciPy: L-BFGS-B (numerical gradient)"
echo "on the NumPy/SciPy log-likelihood of test/clv_reference.py, one run; scoring: vectorised NumPy/SciPy"
echo "on arrays already in memory, against SQL over the table."
"$py" "$ref" sim "$n" 42 "$csv"
head -n "$np" "$csv" | cut -d, -f1-3 >"$csvp"
chmod 644 "$csv" "$csvp"
crm_psql -q <<SQL
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_clv, bench_clv_p, bench_clv_params;
CREATE TABLE bench_clv (x integer, t_x float8, t_cal float8, mean_spend float8);
\copy bench_clv FROM '$csv' WITH (FORMAT csv)
CREATE TABLE bench_clv_p AS SELECT * FROM bench_clv LIMIT 0;
\copy bench_clv_p (x, t_x, t_cal) FROM '$csvp' WITH (FORMAT csv)
VACUUM ANALYZE bench_clv;
VACUUM ANALYZE bench_clv_p;
SQL
crm_psql -At -c "SELECT 'customers: ' || count(*) || ', distinct (x, t_x, T): ' || count(DISTINCT (x, t_x, t_cal))
                        || ', with repeat purchases: ' || count(*) FILTER (WHERE x > 0) FROM bench_clv"

# Our fits, and their estimates.
t_bg=$(bench_ms "$runs" "SELECT crm.bgnbd_fit(x, t_x, t_cal) FROM bench_clv")
t_gg=$(bench_ms "$runs" "SELECT crm.gamma_gamma_fit(x, mean_spend) FROM bench_clv")
t_pn=$(bench_ms 1 "SELECT crm.paretonbd_fit(x, t_x, t_cal) FROM bench_clv_p")
bg=$(crm_psql -At -c "SELECT r || ',' || alpha || ',' || a || ',' || b || ',' || loglik || ',' || converged FROM (SELECT (crm.bgnbd_fit(x, t_x, t_cal)).* FROM bench_clv) f")
gg=$(crm_psql -At -c "SELECT p || ',' || q || ',' || v || ',' || loglik || ',' || converged FROM (SELECT (crm.gamma_gamma_fit(x, mean_spend)).* FROM bench_clv) f")
pn=$(crm_psql -At -c "SELECT r || ',' || alpha || ',' || s || ',' || beta || ',' || loglik || ',' || converged FROM (SELECT (crm.paretonbd_fit(x, t_x, t_cal)).* FROM bench_clv_p) f")
# Scoring every customer with the fitted parameters: P(alive) and expected
# purchases in 13 weeks, expected spend; CLV over 52 weeks (0.18% a week).
crm_psql -q -c "CREATE TABLE bench_clv_params AS SELECT crm.bgnbd_fit(x, t_x, t_cal) AS p, crm.gamma_gamma_fit(x, mean_spend) AS g,
                        (SELECT crm.paretonbd_fit(x, t_x, t_cal) FROM bench_clv_p) AS pp FROM bench_clv; ANALYZE bench_clv_params"
q_score="SELECT sum(crm.p_alive(f.p, x, t_x, t_cal)), sum(crm.expected_purchases(f.p, 13, x, t_x, t_cal))
           FROM bench_clv, bench_clv_params f"
t_score=$(bench_ms "$runs" "$q_score")
q_score_p="SELECT sum(crm.p_alive(f.pp, x, t_x, t_cal)), sum(crm.expected_purchases(f.pp, 13, x, t_x, t_cal))
           FROM bench_clv_p, bench_clv_params f"
t_score_p=$(bench_ms "$runs" "$q_score_p")
q_score_g="SELECT sum(crm.expected_spend(f.g, x, mean_spend)) FROM bench_clv, bench_clv_params f"
t_score_g=$(bench_ms "$runs" "$q_score_g")
q_clv="SELECT sum(crm.clv(f.p, f.g, x, t_x, t_cal, mean_spend, 52, 0.0018)) FROM bench_clv c, bench_clv_params f"
t_clv=$(bench_ms 1 "$q_clv")
crm_score=$(crm_psql -At -c "$q_score" | tr '|' ' ')
crm_score_p=$(crm_psql -At -c "$q_score_p" | tr '|' ' ')
crm_score_g=$(crm_psql -At -c "$q_score_g")

# SciPy on the same data.
s_bg=$("$py" "$ref" fit-fast bgnbd "$csv")
s_gg=$("$py" "$ref" fit-fast gg "$csv" sim)
s_pn=$("$py" "$ref" fit-fast paretonbd "$csvp")
bgp=$(echo "$bg" | cut -d, -f1-4)
s_score=$("$py" "$ref" score-bgnbd "$bgp" "$csv")
s_score_p=$("$py" "$ref" score-paretonbd "$(echo "$pn" | cut -d, -f1-4)" "$csvp")
s_score_g=$("$py" "$ref" score-gg "$(echo "$gg" | cut -d, -f1-3)" "$csv")
ms() { echo "$1" | sed -n 's/^seconds=//p' | awk '{ printf "%.1f", $1 * 1000 }'; }

ev() { echo "$1" | sed -n 's/^evaluations=//p'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a + b }'; }
bench_row "SciPy L-BFGS-B, BG/NBD ($(ev "$s_bg") evaluations)" "$(ms "$s_bg")" "$(ms "$s_bg")"
bench_row "crm.bgnbd_fit" "$t_bg" "$(ms "$s_bg")"
bench_row "NumPy BG/NBD score: P(alive) + E[purchases, 13 weeks]" "$(ms "$s_score")" "$(ms "$s_score")"
bench_row "crm.p_alive + crm.expected_purchases, BG/NBD" "$t_score" "$(ms "$s_score")"
bench_row "BG/NBD fit + score, SciPy" "$(add "$(ms "$s_bg")" "$(ms "$s_score")")" "$(add "$(ms "$s_bg")" "$(ms "$s_score")")"
bench_row "BG/NBD fit + score, crm" "$(add "$t_bg" "$t_score")" "$(add "$(ms "$s_bg")" "$(ms "$s_score")")"
bench_row "SciPy L-BFGS-B, Pareto/NBD, $np ($(ev "$s_pn") evaluations)" "$(ms "$s_pn")" "$(ms "$s_pn")"
bench_row "crm.paretonbd_fit, $np customers" "$t_pn" "$(ms "$s_pn")"
bench_row "SciPy Pareto/NBD score: P(alive) + E[purchases, 13 weeks]" "$(ms "$s_score_p")" "$(ms "$s_score_p")"
bench_row "crm.p_alive + crm.expected_purchases, Pareto/NBD" "$t_score_p" "$(ms "$s_score_p")"
bench_row "Pareto/NBD fit + score, SciPy" "$(add "$(ms "$s_pn")" "$(ms "$s_score_p")")" "$(add "$(ms "$s_pn")" "$(ms "$s_score_p")")"
bench_row "Pareto/NBD fit + score, crm" "$(add "$t_pn" "$t_score_p")" "$(add "$(ms "$s_pn")" "$(ms "$s_score_p")")"
bench_row "SciPy L-BFGS-B, Gamma-Gamma ($(ev "$s_gg") evaluations)" "$(ms "$s_gg")" "$(ms "$s_gg")"
bench_row "crm.gamma_gamma_fit" "$t_gg" "$(ms "$s_gg")"
bench_row "NumPy Gamma-Gamma scoring: expected spend" "$(ms "$s_score_g")" "$(ms "$s_score_g")"
bench_row "crm.expected_spend over the table" "$t_score_g" "$(ms "$s_score_g")"
bench_row "Gamma-Gamma fit + score, SciPy" "$(add "$(ms "$s_gg")" "$(ms "$s_score_g")")" "$(add "$(ms "$s_gg")" "$(ms "$s_score_g")")"
bench_row "Gamma-Gamma fit + score, crm" "$(add "$t_gg" "$t_score_g")" "$(add "$(ms "$s_gg")" "$(ms "$s_score_g")")"
bench_row "crm.clv, BG/NBD, 52 weekly steps, $n customers" "$t_clv" "$(ms "$s_score")"

# Estimates side by side: largest relative difference of the parameters.
cmp() {
    local model=$1 ours=$2 theirs=$3 names=$4
    awk -v ours="$ours" -v names="$names" -v ref="$theirs" -v model="$model" 'BEGIN {
        n = split(ours, o, ","); split(names, nm, ",")
        split(ref, lines, "\n")
        for (i in lines) { split(lines[i], kv, "="); want[kv[1]] = kv[2] }
        worst = 0; s = ""
        for (i = 1; i <= n - 2; i++) {
            d = (o[i] - want[nm[i]]) / want[nm[i]]; if (d < 0) d = -d
            if (d > worst) worst = d
            s = s sprintf(" %s %.6g/%.6g", nm[i], o[i], want[nm[i]])
        }
        printf "  %-11s crm/SciPy:%s; loglik %.3f/%.3f; largest relative difference %.1e%s\n",
               model, s, o[n - 1], want["loglik"], worst, (o[n] == "true" ? "" : " (crm: not converged)")
    }'
}
cmp BG/NBD "$bg" "$s_bg" "r,alpha,a,b"
cmp Gamma-Gamma "$gg" "$s_gg" "p,q,v"
cmp Pareto/NBD "$pn" "$s_pn" "r,alpha,s,beta"
sums() { echo "$(echo "$1" | sed -n 's/^sum_p_alive=//p') $(echo "$1" | sed -n 's/^sum_expected=//p')"; }
echo "  scoring sums (P(alive), E[purchases]) BG/NBD crm: $crm_score; NumPy/SciPy: $(sums "$s_score")"
echo "  Pareto/NBD crm: $crm_score_p; NumPy/SciPy: $(sums "$s_score_p")"
echo "  expected spend crm: $crm_score_g; NumPy: $(echo "$s_score_g" | sed -n 's/^sum_expected_spend=//p')"
crm_psql -q -c "DROP TABLE bench_clv, bench_clv_p, bench_clv_params"
rm -f "$csv" "$csvp"
