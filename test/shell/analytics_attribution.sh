#!/usr/bin/env bash
# Reference test on real data: the 10,000 customer journeys of
# ChannelAttribution_Data.csv.  crm.markov_attribution's removal effects and
# attributed conversions and value, and crm.heuristic_attribution's first
# touch, last touch and linear credit, must agree to 1e-9 (relative) with an
# independent computation in Python/NumPy: transition counts from the paths,
# absorption probabilities from the fundamental matrix (numpy.linalg.solve),
# one removal per channel; the same for chains of order 2 and 3 (a state is
# the last k channels).  Skips (exit 0) when the data is absent.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
file=${CRM_DATA_DIR:-$top/../shared/data}/attribution/ChannelAttribution_Data.csv
if [ ! -r "$file" ]; then
    echo "SKIP: $file not found; the attribution reference test needs ../shared/data"
    exit 0
fi
py=""
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import numpy' >/dev/null 2>&1; then py=$p; break; fi
done
if [ -z "$py" ]; then
    echo "FAIL: no python3 with NumPy found; run test/deps.sh (python3-scipy brings python3-numpy)" >&2
    exit 1
fi

db=crm_attribution_reference_$$
work=$(mktemp -d "${TMPDIR:-/tmp}/crm-attr-XXXXXX")
chmod 755 "$work"
cleanup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"

psql -X -q -v ON_ERROR_STOP=1 -At -d "$db" >"$work/ours.txt" <<SQL
CREATE EXTENSION crm;
CREATE TABLE journey (path text, conversions bigint, value numeric, nulls bigint);
\copy journey FROM '$file' WITH (FORMAT csv, DELIMITER ';', HEADER true)
SELECT 'journeys ' || count(*) FROM journey;
SELECT 'markov ' || crm.markov_attribution(string_to_array(path, ' > '), conversions, nulls, value)::text FROM journey;
SELECT 'heuristic ' || crm.heuristic_attribution(string_to_array(path, ' > '), conversions, value)::text FROM journey;
SELECT 'markov2 ' || crm.markov_attribution(string_to_array(path, ' > '), conversions, nulls, value, 2)::text FROM journey;
SELECT 'markov3 ' || crm.markov_attribution(string_to_array(path, ' > '), conversions, nulls, value, 3)::text FROM journey;
SQL

"$py" - "$file" "$work/ours.txt" <<'PY'
import sys, json, csv
import numpy as np
path_file, ours_file = sys.argv[1], sys.argv[2]
ours = {}
for line in open(ours_file):
    k, _, rest = line.strip().partition(" ")
    ours[k] = rest if k == "journeys" else json.loads(rest)
print("journeys:", ours["journeys"])

journeys = []
with open(path_file) as f:
    r = csv.reader(f, delimiter=";")
    next(r)
    for row in r:
        journeys.append((row[0].split(" > "), int(row[1]), float(row[2]), int(row[3])))
channels = sorted({c for p, _, _, _ in journeys for c in p})
idx = {c: i + 1 for i, c in enumerate(channels)}   # 0 = start
n = len(channels) + 1
T = np.zeros((n, n)); conv = np.zeros(n); null = np.zeros(n)
total_conv = total_value = 0.0
first = {c: [0.0, 0.0] for c in channels}; last = {c: [0.0, 0.0] for c in channels}; lin = {c: [0.0, 0.0] for c in channels}
for p, c, v, nl in journeys:
    w = c + nl
    if not p or w == 0:
        continue
    seq = [0] + [idx[x] for x in p]
    for a, b in zip(seq, seq[1:]):
        T[a, b] += w
    conv[seq[-1]] += c; null[seq[-1]] += nl
    total_conv += c; total_value += v
    if c > 0:
        first[p[0]][0] += c; first[p[0]][1] += v
        last[p[-1]][0] += c; last[p[-1]][1] += v
        for x in p:
            lin[x][0] += c / len(p); lin[x][1] += v / len(p)
out = T.sum(axis=1) + conv + null
Q = T / out[:, None]; R = conv / out

def p_conv(removed=None):
    keep = [i for i in range(n) if i != removed]
    A = np.eye(len(keep)) - Q[np.ix_(keep, keep)]
    return np.linalg.solve(A, R[keep])[0]

full = p_conv()
re = {c: max(0.0, 1 - p_conv(idx[c]) / full) for c in channels}
s = sum(re.values())
bad = checked = 0
def close(name, got, want, tol=1e-9):
    global bad, checked
    checked += 1
    if not abs(got - want) <= tol * max(abs(want), 1e-12):
        bad += 1
        print(f"MISMATCH {name}: ours {got!r}, numpy {want!r}")
if sorted(ours["markov"]) != channels:
    print("channels differ:", sorted(ours["markov"]), channels); sys.exit(1)
for c in channels:
    o = ours["markov"][c]
    close(f"{c} removal_effect", o["removal_effect"], re[c])
    close(f"{c} conversions", o["conversions"], total_conv * re[c] / s)
    close(f"{c} value", o["value"], total_value * re[c] / s)
    h = ours["heuristic"][c]
    for key, ref in (("first_touch", first), ("last_touch", last), ("linear", lin)):
        close(f"{c} {key}", h[key], ref[c][0])
        close(f"{c} {key}_value", h[key + "_value"], ref[c][1])
# Higher orders: a state is the tuple of the last k channels; removing a
# channel removes every state that contains it.
def higher(k):
    states = {}
    trans = {}
    cnv = {}; nul = {}
    for p, c, v, nl in journeys:
        w = c + nl
        if not p or w == 0:
            continue
        prev = ()
        for i in range(len(p)):
            cur = tuple(p[max(0, i - k + 1):i + 1])
            states.setdefault(cur, len(states) + 1)
            trans[(prev, cur)] = trans.get((prev, cur), 0) + w
            prev = cur
        cnv[prev] = cnv.get(prev, 0) + c; nul[prev] = nul.get(prev, 0) + nl
    m = len(states) + 1
    ix = lambda s: 0 if s == () else states[s]
    T = np.zeros((m, m)); C = np.zeros(m); N = np.zeros(m)
    for (a, b), w in trans.items():
        T[ix(a), ix(b)] += w
    for s, c in cnv.items(): C[ix(s)] += c
    for s, c in nul.items(): N[ix(s)] += c
    o = T.sum(axis=1) + C + N
    Qk = T / o[:, None]; Rk = C / o
    def pc(removed):
        keep = [0] + [ix(s) for s in states if s not in removed]
        A = np.eye(len(keep)) - Qk[np.ix_(keep, keep)]
        return np.linalg.solve(A, Rk[keep])[0]
    f = pc(set())
    res = {c: max(0.0, 1 - pc({s for s in states if c in s}) / f) for c in channels}
    return res, len(states)
for k in (2, 3):
    rek, nst = higher(k)
    sk = sum(rek.values())
    for c in channels:
        o = ours[f"markov{k}"][c]
        close(f"order {k} {c} removal_effect", o["removal_effect"], rek[c])
        close(f"order {k} {c} conversions", o["conversions"], total_conv * rek[c] / sk)
        close(f"order {k} {c} value", o["value"], total_value * rek[c] / sk)
    print(f"order {k}: {nst} states; " + ", ".join(f"{c} {rek[c]:.4f}" for c in channels))
print(f"{len(channels)} channels, P(conversion) = {full:.6f}; "
      + ", ".join(f"{c} {re[c]:.4f}" for c in channels))
print(f"{checked} numbers compared with NumPy, {bad} differ by more than 1e-9 (relative)")
sys.exit(1 if bad else 0)
PY
