#!/usr/bin/env python3
"""Independent reference for the CLV models, written with NumPy and SciPy.

These are the textbook formulas (Fader, Hardie and Lee 2005; Schmittlein,
Morrison and Colombo 1987), written here from the papers and not from the C
code of the extension: SciPy's hyp2f1 for BG/NBD expectations, adaptive
quadrature (scipy.integrate.quad) of the Pareto/NBD integral, and
scipy.optimize for maximum likelihood.

    clv_reference.py values            reference values of fixed inputs (sql/clv.sql)
    clv_reference.py fit MODEL FILE     maximum likelihood on a CSV file without header
                                        (fit-fast: L-BFGS-B only, no Nelder-Mead polish):
                                        bgnbd / paretonbd: x,t_x,T[,count]
                                        gg: x,mean_spend[,count]
                                        prints name=value lines and seconds=...
    clv_reference.py sim N SEED FILE    simulated customers for the bench (x,t_x,T,mean_spend)
    clv_reference.py score-bgnbd r,alpha,a,b FILE   P(alive) and 13-week expectations, vectorised
    clv_reference.py score-paretonbd r,alpha,s,beta FILE   the same for Pareto/NBD
    clv_reference.py score-gg p,q,v FILE   Gamma-Gamma expected spend, vectorised
"""
import math
import sys
import time

import numpy as np
from scipy import integrate, optimize, special


# ---------------------------------------------------------------- BG/NBD
def bgnbd_ll(params, x, tx, T):
    r, alpha, a, b = params
    ln_a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    ln_a2 = (special.gammaln(a + b) + special.gammaln(b + x)
             - special.gammaln(b) - special.gammaln(a + b + x))
    ln_a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        ln_a4 = np.where(x > 0,
                         np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
                         -np.inf)
    return ln_a1 + ln_a2 + np.logaddexp(ln_a3, ln_a4)


def bgnbd_p_alive(params, x, tx, T):
    r, alpha, a, b = params
    if x == 0:
        return 1.0
    return 1.0 / (1.0 + a / (b + x - 1) * ((alpha + T) / (alpha + tx)) ** (r + x))


def bgnbd_expected(params, t, x, tx, T):
    """FHL (2005) equation 10 with SciPy's 2F1 (needs a != 1)."""
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    h = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    e = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * h)
    return e * bgnbd_p_alive(params, x, tx, T)


def bgnbd_expected_quad(params, t, x, tx, T):
    """Posterior expectation over p ~ Beta(a, b + x) by quadrature (any a)."""
    r, alpha, a, b = params
    m, bb, k = r + x, b + x, t / (alpha + T)
    lb = special.betaln(a, bb)

    def f(p):
        return math.exp((a - 1) * math.log(p) + (bb - 1) * math.log1p(-p) - lb) * (-math.expm1(-m * math.log1p(p * k)) / p)
    v, _ = integrate.quad(f, 0, 1, epsabs=0, epsrel=1e-13, limit=500)
    return v * bgnbd_p_alive(params, x, tx, T)


# ---------------------------------------------------------------- Pareto/NBD
def pnbd_parts(params, x, tx, T):
    """A = (alpha+T)^-(r+x) (beta+T)^-s and D = int_tx^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du."""
    r, alpha, s, beta = params
    A = (alpha + T) ** -(r + x) * (beta + T) ** -s
    if tx >= T:
        return A, 0.0
    # scale the integrand by its value at tx to keep quad in a sane range
    c = (alpha + tx) ** -(r + x) * (beta + tx) ** -(s + 1)
    v, _ = integrate.quad(lambda u: ((alpha + tx) / (alpha + u)) ** (r + x) * ((beta + tx) / (beta + u)) ** (s + 1),
                          tx, T, epsabs=0, epsrel=1e-13, limit=500)
    return A, v * c


def pnbd_p_alive(params, x, tx, T):
    A, D = pnbd_parts(params, x, tx, T)
    return A / (A + params[2] * D)


def pnbd_expected(params, t, x, tx, T):
    r, alpha, s, beta = params
    e = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1))
    return e * pnbd_p_alive(params, x, tx, T)


def pnbd_ll_vec(params, x, tx, T):
    """Vectorised log-likelihood with SciPy's 2F1 (the formulation of FHL's note)."""
    r, alpha, s, beta = params
    rsx = r + s + x
    if alpha >= beta:
        big, t2 = alpha, s + 1
    else:
        big, t2 = beta, r + x
    d = abs(alpha - beta)
    f1 = special.hyp2f1(rsx, t2, rsx + 1, d / (big + tx)) / (big + tx) ** rsx
    f2 = special.hyp2f1(rsx, t2, rsx + 1, d / (big + T)) / (big + T) ** rsx
    base = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    la = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        lb = np.log(s) - np.log(rsx) + np.log(np.maximum(f1 - f2, 0))
    return base + np.logaddexp(la, lb)


# ---------------------------------------------------------------- Gamma-Gamma
def gg_ll(params, x, m):
    p, q, v = params
    return (special.gammaln(p * x + q) - special.gammaln(p * x) - special.gammaln(q) + q * np.log(v)
            + (p * x - 1) * np.log(m * x) + np.log(x) - (p * x + q) * np.log(v + m * x))


def gg_spend(params, x, m):
    p, q, v = params
    return p * (v + x * m) / (p * x + q - 1)


def clv_sum(expected, params, gg, x, tx, T, m, horizon, rate):
    """Discrete sum: purchases of each whole time unit, discounted at its end."""
    total, prev = 0.0, 0.0
    for k in range(1, math.ceil(horizon) + 1):
        tk = min(k, horizon)
        e = expected(params, tk, x, tx, T)
        total += (e - prev) / (1 + rate) ** tk
        prev = e
    return total * gg_spend(gg, x, m)


# ---------------------------------------------------------------- fitting
def fit(model, rows, polish=True):
    data = np.array(rows, dtype=float)
    if model == "gg":
        x, m = data[:, 0], data[:, 1]
        w = data[:, 2] if data.shape[1] > 2 else np.ones(len(x))
        keep = x > 0
        x, m, w = x[keep], m[keep], w[keep]
        nll = lambda th: -np.sum(w * gg_ll(np.exp(th), x, m)) / w.sum()
        start = [0.0, math.log(2.0), math.log(m.mean())]
        names = ["p", "q", "v"]
    else:
        x, tx, T = data[:, 0], data[:, 1], data[:, 2]
        w = data[:, 3] if data.shape[1] > 3 else np.ones(len(x))
        f = bgnbd_ll if model == "bgnbd" else pnbd_ll_vec
        nll = lambda th: -np.sum(w * f(np.exp(th), x, tx, T)) / w.sum()
        mt = max(float(np.sum(w * T) / w.sum()), 1e-3)
        start = [0.0, math.log(mt), 0.0, 0.0 if model == "bgnbd" else math.log(mt)]
        names = ["r", "alpha", "a", "b"] if model == "bgnbd" else ["r", "alpha", "s", "beta"]
    t0 = time.perf_counter()
    res = optimize.minimize(nll, start, method="L-BFGS-B",
                            options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10000, "maxfun": 100000})
    if polish:
        # polish with Nelder-Mead from the L-BFGS-B point, tight tolerances
        res2 = optimize.minimize(nll, res.x, method="Nelder-Mead",
                                 options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 20000, "maxfev": 40000})
        if res2.fun < res.fun:
            res = res2
    secs = time.perf_counter() - t0
    print(f"evaluations={res.nfev}")
    for n, v in zip(names, np.exp(res.x)):
        print(f"{n}={v!r}")
    print(f"loglik={-res.fun * w.sum()!r}")
    print(f"n={int(w.sum())}")
    print(f"seconds={secs!r}")


def values():
    bg = (0.243, 4.414, 0.793, 2.426)
    bg1 = (0.5, 6.0, 1.02, 3.0)       # a close to 1: the closed form is ill-conditioned
    pn = (0.553, 10.578, 0.606, 11.669)
    pa = (0.8, 20.0, 1.5, 2.0)        # alpha >> beta
    pb = (0.8, 2.0, 1.5, 20.0)        # alpha << beta
    gg = (6.25, 3.74, 15.44)
    custs = [(0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (26, 30.86, 31.0), (50, 10.0, 38.0), (3, 5.0, 5.0)]
    for c in custs:
        print("bg p_alive", c, repr(bgnbd_p_alive(bg, *c)))
        for t in (0.5, 39, 100):
            print("bg expected", t, c, repr(bgnbd_expected(bg, t, *c)), repr(bgnbd_expected_quad(bg, t, *c)))
        print("bg1 expected", 39, c, repr(bgnbd_expected_quad(bg1, 39, *c)))
    for name, P in (("pn", pn), ("pa", pa), ("pb", pb)):
        for c in custs:
            print(name, "p_alive", c, repr(pnbd_p_alive(P, *c)), "expected39", repr(pnbd_expected(P, 39, *c)))
    print("gg spend", repr(gg_spend(gg, 2, 22.345)), repr(gg_spend(gg, 0, 0)))
    for c, m in (((2, 30.43, 38.86), 22.345), ((0, 0.0, 38.86), 0.0)):
        print("clv bg", c, repr(clv_sum(bgnbd_expected_quad, bg, gg, *c, m, 52, 0.0018)))
        print("clv pn", c, repr(clv_sum(pnbd_expected, pn, gg, *c, m, 52.5, 0.0018)))
    for a, b, y in ((0.1, 1.5, 0.3), (2.5, 1.2, 0.9), (0.7, 3.0, 0.99), (3.0, 1.5, -5.0), (1.2, 1.1, -1000.0),
                    (500.0, 2.0, 0.8), (0.05, 1.01, 0.999)):
        v, _ = integrate.quad(lambda t: t ** (a - 1) * (1 - y * t) ** -b, 0, 1, epsabs=0, epsrel=1e-13, limit=1000)
        print("log_h", a, b, y, repr(math.log(v)), repr(math.log(special.hyp2f1(a, b, a + 1, y) / a)))


def simulate(n, seed, path):
    """BG/NBD customers (r=0.25, alpha=4, a=0.8, b=2.5, weeks) first buying on a day of one year,
    purchase times kept to whole days; Gamma-Gamma spend (p=6, q=4, v=15)."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(0.25, 1 / 4.0, n)
    p = rng.beta(0.8, 2.5, n)
    T = rng.integers(1, 366, n) / 7.0
    nu = rng.gamma(4.0, 1 / 15.0, n)
    x = np.zeros(n, dtype=np.int64)
    tx = np.zeros(n)
    t = np.zeros(n)
    spend = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        i = np.flatnonzero(alive)
        t[i] += rng.exponential(1.0, len(i)) / lam[i]
        ok = t[i] <= T[i]
        alive[i[~ok]] = False
        i = i[ok]
        x[i] += 1
        tx[i] = np.floor(t[i] * 7) / 7
        spend[i] += rng.gamma(6.0, 1.0, len(i)) / nu[i]
        alive[i[rng.random(len(i)) < p[i]]] = False
    m = np.where(x > 0, spend / np.maximum(x, 1), 0)
    with open(path, "w") as f:
        for row in zip(x, tx, T, m):
            f.write("%d,%r,%r,%s\n" % (row[0], float(row[1]), float(row[2]), repr(float(row[3])) if row[0] > 0 else ""))


def score_bgnbd(params, path):
    """P(alive) and expected purchases in 13 weeks of every customer, vectorised (FHL closed form)."""
    d = np.genfromtxt(path, delimiter=",", usecols=(0, 1, 2))
    x, tx, T = d[:, 0], d[:, 1], d[:, 2]
    r, alpha, a, b = params
    t0 = time.perf_counter()
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x), 0)
    pa = 1 / (1 + odds)
    t = 13.0
    z = t / (alpha + T + t)
    e = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * special.hyp2f1(r + x, b + x, a + b + x - 1, z)) * pa
    secs = time.perf_counter() - t0
    print(f"sum_p_alive={pa.sum()!r}")
    print(f"sum_expected={e.sum()!r}")
    print(f"seconds={secs!r}")


def score_paretonbd(params, path):
    """P(alive) and expected purchases in 13 weeks of every customer, vectorised (2F1 form of the likelihood)."""
    d = np.genfromtxt(path, delimiter=",", usecols=(0, 1, 2))
    x, tx, T = d[:, 0], d[:, 1], d[:, 2]
    r, alpha, s, beta = params
    t0 = time.perf_counter()
    rsx = r + s + x
    if alpha >= beta:
        big, t2 = alpha, s + 1
    else:
        big, t2 = beta, r + x
    dd = abs(alpha - beta)
    f1 = special.hyp2f1(rsx, t2, rsx + 1, dd / (big + tx)) / (big + tx) ** rsx
    f2 = special.hyp2f1(rsx, t2, rsx + 1, dd / (big + T)) / (big + T) ** rsx
    la = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        lb = np.log(s) - np.log(rsx) + np.log(np.maximum(f1 - f2, 0))
    pa = 1 / (1 + np.exp(lb - la))
    t = 13.0
    e = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1)) * pa
    secs = time.perf_counter() - t0
    print(f"sum_p_alive={pa.sum()!r}")
    print(f"sum_expected={e.sum()!r}")
    print(f"seconds={secs!r}")


def score_gg(params, path):
    """Expected spend per purchase of every customer, vectorised (population mean when x = 0)."""
    d = np.genfromtxt(path, delimiter=",", usecols=(0, 3), filling_values=0.0)
    x, m = d[:, 0], d[:, 1]
    p, q, v = params
    t0 = time.perf_counter()
    e = p * (v + x * m) / (p * x + q - 1)
    secs = time.perf_counter() - t0
    print(f"sum_expected_spend={e.sum()!r}")
    print(f"seconds={secs!r}")


if __name__ == "__main__":
    if sys.argv[1] == "values":
        values()
    elif sys.argv[1] in ("fit", "fit-fast"):
        cols = (0, 1) if sys.argv[2] == "gg" else (0, 1, 2)
        if sys.argv[2] == "gg" and len(sys.argv) > 4:
            cols = (0, 3)           # the simulation file: x,t_x,T,mean_spend
        rows = np.genfromtxt(sys.argv[3], delimiter=",", usecols=cols, filling_values=0.0)
        fit(sys.argv[2], rows, polish=(sys.argv[1] == "fit"))
    elif sys.argv[1] == "sim":
        simulate(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "score-bgnbd":
        score_bgnbd([float(v) for v in sys.argv[2].split(",")], sys.argv[3])
    elif sys.argv[1] == "score-paretonbd":
        score_paretonbd([float(v) for v in sys.argv[2].split(",")], sys.argv[3])
    elif sys.argv[1] == "score-gg":
        score_gg([float(v) for v in sys.argv[2].split(",")], sys.argv[3])
