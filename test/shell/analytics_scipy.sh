#!/usr/bin/env bash
# Statistics reference test: crm.ab_test, crm.welch_test and
# crm.student_t_p_value agree with SciPy to 1e-9 (relative) on fixed data.
# The data is generated here by a fixed linear congruential sequence; SciPy
# computes the reference numbers at test time:
#   z test p-value: scipy.stats.chi2_contingency(correction=False) on the 2x2
#     table (its chi-square is z^2 of the pooled two-proportion z test);
#   z: the signed square root of that chi-square;
#   95% interval of the difference: lift -/+ norm.ppf(0.975) * unpooled se;
#   Welch: scipy.stats.ttest_ind(equal_var=False) for t and p, the
#     Welch-Satterthwaite df, and t.ppf(0.975, df) for the interval;
#   Student t: 2 * scipy.stats.t.sf(|t|, df), for df from 0.5 to 1e12 (the
#     continued fraction below df = 1000, an expansion in 1/df above).
set -euo pipefail

py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import scipy.stats' >/dev/null 2>&1; then py=$p; break; fi
done
if [ -z "$py" ]; then
    echo "FAIL: no python3 with SciPy found; run test/deps.sh (python3-scipy)" >&2
    exit 1
fi

db=crm_analytics_scipy_$$
work=$(mktemp -d "${TMPDIR:-/tmp}/crm-scipy-XXXXXX")
chmod 755 "$work"
cleanup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"

# Fixed data.
"$py" - "$work" <<'PY'
import sys, math
work = sys.argv[1]
state = 12345
def rnd():
    global state
    state = (state * 1103515245 + 12345) % 2**31
    return state / 2**31
with open(f"{work}/ab.csv", "w") as f:
    # control A converts 10%, B 12%, C 10.5%, D 30% (small group)
    for variant, n, rate in (("A", 5000, 0.10), ("B", 4800, 0.12), ("C", 5200, 0.105), ("D", 37, 0.30)):
        for _ in range(n):
            f.write(f"{variant},{'t' if rnd() < rate else 'f'}\n")
with open(f"{work}/welch.csv", "w") as f:
    # skewed spends: exponential-ish with different means and spreads
    for variant, n, mean, scale in (("ctl", 800, 40.0, 1.0), ("big", 650, 43.5, 1.8), ("tiny", 7, 35.0, 0.4)):
        for _ in range(n):
            x = mean * scale * -math.log(1 - rnd()) + mean * (1 - scale)
            f.write(f"{variant},{x!r}\n")
with open(f"{work}/t.csv", "w") as f:
    for df in (0.5, 1, 2, 2.5, 7, 30, 123.4, 999, 1000, 1e5, 1e6, 3e6, 1e7, 3e7, 1e8, 1e9, 1e12):
        for t in (0.001, 0.3, 1, 1.96, 2.5, 4, 10, 20, 35):
            f.write(f"{t!r},{df!r}\n")
PY

psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" >"$work/ours.txt" <<SQL
CREATE EXTENSION crm;
CREATE TABLE ab (variant text, converted boolean);
\copy ab FROM '$work/ab.csv' WITH (FORMAT csv)
CREATE TABLE welch (variant text, y double precision);
\copy welch FROM '$work/welch.csv' WITH (FORMAT csv)
CREATE TABLE tcase (t double precision, df double precision);
\copy tcase FROM '$work/t.csv' WITH (FORMAT csv)
SET extra_float_digits = 3;
SELECT 'ab ' || crm.ab_test(variant, converted, 'A')::text FROM ab;
SELECT 'welch ' || crm.welch_test(variant, y, 'ctl')::text FROM welch;
SELECT 'tp ' || json_build_object('t', t, 'df', df, 'p', crm.student_t_p_value(t, df))::text FROM tcase;
SQL

"$py" - "$work" <<'PY'
import sys, json, math, csv
from scipy import stats
import numpy as np
work = sys.argv[1]
ours = {"ab": None, "welch": None, "tp": []}
for line in open(f"{work}/ours.txt"):
    kind, _, rest = line.strip().partition(" ")
    if kind == "tp":
        ours["tp"].append(json.loads(rest))
    else:
        ours[kind] = json.loads(rest)
bad = 0
checked = 0
def close(name, got, want, tol=1e-9):
    global bad, checked
    checked += 1
    if got is None or want is None or not math.isfinite(want):
        ok = got is None and (want is None or not math.isfinite(want))
    else:
        ok = abs(got - want) <= tol * max(abs(want), 1e-300) or (want == 0 and abs(got) < 1e-15)
    if not ok:
        bad += 1
        print(f"MISMATCH {name}: ours {got!r}, scipy {want!r}")

rows = list(csv.reader(open(f"{work}/ab.csv")))
def counts(v):
    n = sum(1 for r in rows if r[0] == v)
    x = sum(1 for r in rows if r[0] == v and r[1] == "t")
    return n, x
n1, x1 = counts("A")
z975 = stats.norm.ppf(0.975)
assert [o["variant"] for o in ours["ab"]] == ["B", "C", "D"], ours["ab"]
for o in ours["ab"]:
    v = o["variant"]
    n2, x2 = counts(v)
    p1, p2 = x1 / n1, x2 / n2
    chi2, p, _, _ = stats.chi2_contingency([[x2, n2 - x2], [x1, n1 - x1]], correction=False)
    z = math.copysign(math.sqrt(chi2), p2 - p1)
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    for key, want in (("n", n2), ("conversions", x2), ("rate", p2), ("control_rate", p1),
                      ("lift", p2 - p1), ("relative_lift", (p2 - p1) / p1), ("z", z), ("p_value", p),
                      ("ci_low", p2 - p1 - z975 * se), ("ci_high", p2 - p1 + z975 * se)):
        close(f"ab {v} {key}", o[key], want)

w = {}
for r in csv.reader(open(f"{work}/welch.csv")):
    w.setdefault(r[0], []).append(float(r[1]))
ctl = np.array(w["ctl"])
assert [o["variant"] for o in ours["welch"]] == ["big", "tiny"], ours["welch"]
for o in ours["welch"]:
    v = o["variant"]
    x = np.array(w[v])
    res = stats.ttest_ind(x, ctl, equal_var=False)
    s1, s2 = x.var(ddof=1) / len(x), ctl.var(ddof=1) / len(ctl)
    df = (s1 + s2) ** 2 / (s1 ** 2 / (len(x) - 1) + s2 ** 2 / (len(ctl) - 1))
    diff = x.mean() - ctl.mean()
    q = stats.t.ppf(0.975, df)
    se = math.sqrt(s1 + s2)
    for key, want in (("n", len(x)), ("mean", x.mean()), ("sd", x.std(ddof=1)), ("control_mean", ctl.mean()),
                      ("control_sd", ctl.std(ddof=1)), ("diff", diff), ("t", res.statistic), ("df", df),
                      ("p_value", res.pvalue), ("ci_low", diff - q * se), ("ci_high", diff + q * se)):
        close(f"welch {v} {key}", o[key], want)

for o in ours["tp"]:
    close(f"t p-value t={o['t']} df={o['df']}", o["p"], 2 * stats.t.sf(abs(o["t"]), o["df"]))

print(f"{checked} numbers compared with SciPy {__import__('scipy').__version__}, {bad} differ by more than 1e-9 (relative)")
sys.exit(1 if bad else 0)
PY
