-- CLV: sample states, the BG/NBD, Pareto/NBD and Gamma-Gamma fits,
-- predictions, crm.clv_summary and crm.refresh_clv
SET search_path = crm, public;
SET TimeZone = 'UTC';

-- ---------------------------------------------------------------------------
-- The states: sorted, equal rows merged, shortest exact numbers
-- ---------------------------------------------------------------------------
SELECT '{(2,30.43,38.86,1),(0,0,38.86,3),(2,30.43,38.86,2),(1,0.1,1e+300,1)}'::clv_sample;
SELECT '{(1,0.1,1e+300,1),(3,0.30000000000000004,39,7)}'::clv_sample::text::clv_sample::text;
SELECT '{}'::clv_sample, ' { ( 0 , 0 , 5 , 1 ) } '::clv_sample, '{(2,22.345,1),(1,9.99,4),(2,22.345,1)}'::clv_spend_sample;
\set VERBOSITY default
SELECT '{(1,2,3)}'::clv_sample;
SELECT '{(1,5,3,1)}'::clv_sample;
SELECT '{(0,1,3,1)}'::clv_sample;
SELECT '{(1,1,3,0)}'::clv_sample;
SELECT '{(-1,0,3,1)}'::clv_sample;
SELECT '{(1,NaN,3,1)}'::clv_sample;
SELECT '{(0,5,1)}'::clv_spend_sample;
SELECT '{(2,-5,1)}'::clv_spend_sample;
SELECT bgnbd_fit(x, t_x, t_cal) FROM (VALUES (2, 40.0, 39.0)) v(x, t_x, t_cal);
SELECT gamma_gamma_fit(x, m) FROM (VALUES (2, 0.0)) v(x, m);
\set VERBOSITY terse

-- No rows, or only NULLs: NULL.  Gamma-Gamma skips customers without repeat purchases.
SELECT bgnbd_fit(x, t_x, t_cal) IS NULL AS none FROM (VALUES (1, 1.0, 2.0)) v(x, t_x, t_cal) WHERE false;
SELECT bgnbd_fit(x, t_x, t_cal) IS NULL AS nulls FROM (VALUES (NULL::int, 1.0, 2.0), (1, NULL, 2.0)) v(x, t_x, t_cal);
SELECT gamma_gamma_fit(x, m) IS NULL AS no_repeat FROM (VALUES (0, NULL::float8), (0, 5.0)) v(x, m);

-- ---------------------------------------------------------------------------
-- Predictions on fixed inputs against values computed independently with
-- SciPy by test/clv_reference.py (hyp2f1 closed forms, adaptive quadrature
-- of the Pareto/NBD integral and of the posterior over p); relative error
-- below 1e-9.
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE ref (model text, what text, t float8, x int, t_x float8, t_cal float8, want float8);
INSERT INTO ref VALUES
 ('bg', 'p_alive', NULL, 0, 0, 38.86, 1.0),
 ('bg', 'p_alive', NULL, 1, 1.71, 38.86, 0.2121009853773791),
 ('bg', 'p_alive', NULL, 2, 30.43, 38.86, 0.726578570080673),
 ('bg', 'p_alive', NULL, 26, 30.86, 31, 0.968915649717525),
 ('bg', 'p_alive', NULL, 50, 10, 38, 1.8271480405631261e-22),
 ('bg', 'p_alive', NULL, 3, 5, 5, 0.8480551829852462),
 ('bg', 'expected', 0.5, 0, 0, 38.86, 0.0028027417728368484),
 ('bg', 'expected', 39, 0, 0, 38.86, 0.19509805201126246),
 ('bg', 'expected', 100, 0, 0, 38.86, 0.43949540282418187),
 ('bg', 'expected', 0.5, 1, 1.71, 38.86, 0.0030388008957600455),
 ('bg', 'expected', 39, 1, 1.71, 38.86, 0.20318698707975413),
 ('bg', 'expected', 100, 1, 1.71, 38.86, 0.4394340132543116),
 ('bg', 'expected', 0.5, 2, 30.43, 38.86, 0.018776841843974),
 ('bg', 'expected', 39, 2, 30.43, 38.86, 1.2260281747671453),
 ('bg', 'expected', 100, 2, 30.43, 38.86, 2.593485982494123),
 ('bg', 'expected', 0.5, 26, 30.86, 31, 0.35714086647775134),
 ('bg', 'expected', 39, 26, 30.86, 31, 20.749726140857256),
 ('bg', 'expected', 100, 26, 30.86, 31, 40.342547497651566),
 ('bg', 'expected', 39, 50, 10, 38, 6.460845247766844e-21),
 ('bg', 'expected', 0.5, 3, 5, 5, 0.1440202907845897),
 ('bg', 'expected', 39, 3, 5, 5, 6.321250365429278),
 ('bg', 'expected', 100, 3, 5, 5, 10.9247998427931),
 ('bg1', 'expected', 39, 0, 0, 38.86, 0.3781492419066486),
 ('bg1', 'expected', 39, 1, 1.71, 38.86, 0.18814674882446542),
 ('bg1', 'expected', 39, 2, 30.43, 38.86, 1.2314668745642035),
 ('bg1', 'expected', 39, 26, 30.86, 31, 18.671442262910425),
 ('bg1', 'expected', 39, 50, 10, 38, 1.0705659036441756e-19),
 ('bg1', 'expected', 39, 3, 5, 5, 5.40418911812185),
 ('pn', 'p_alive', NULL, 0, 0, 38.86, 0.29528660461689404),
 ('pn', 'p_alive', NULL, 1, 1.71, 38.86, 0.16800232672434484),
 ('pn', 'p_alive', NULL, 2, 30.43, 38.86, 0.8691675591530111),
 ('pn', 'p_alive', NULL, 26, 30.86, 31, 0.9979187310551583),
 ('pn', 'p_alive', NULL, 50, 10, 38, 7.44369831703092e-18),
 ('pn', 'p_alive', NULL, 3, 5, 5, 1.0),
 ('pn', 'expected', 39, 0, 0, 38.86, 0.10708146821530883),
 ('pn', 'expected', 39, 1, 1.71, 38.86, 0.17109298055378314),
 ('pn', 'expected', 39, 2, 30.43, 38.86, 1.4551231932576025),
 ('pn', 'expected', 39, 26, 30.86, 31, 20.1170260773705),
 ('pn', 'expected', 39, 50, 10, 38, 2.504852543786522e-16),
 ('pn', 'expected', 39, 3, 5, 5, 5.868691951346508),
 ('pa', 'p_alive', NULL, 0, 0, 38.86, 0.004994682930286792),
 ('pa', 'p_alive', NULL, 1, 1.71, 38.86, 0.005923261341646456),
 ('pa', 'p_alive', NULL, 2, 30.43, 38.86, 0.6551952972822422),
 ('pa', 'p_alive', NULL, 26, 30.86, 31, 0.9934043711456457),
 ('pa', 'p_alive', NULL, 50, 10, 38, 6.992365216859448e-15),
 ('pa', 'expected', 39, 0, 0, 38.86, 0.0015794386676212073),
 ('pa', 'expected', 39, 2, 30.43, 38.86, 0.725159696091267),
 ('pa', 'expected', 39, 26, 30.86, 31, 11.12840286248828),
 ('pa', 'expected', 39, 3, 5, 5, 1.2978783745477542),
 ('pb', 'p_alive', NULL, 0, 0, 38.86, 0.06057288979538112),
 ('pb', 'p_alive', NULL, 1, 1.71, 38.86, 0.017208967228838346),
 ('pb', 'p_alive', NULL, 2, 30.43, 38.86, 0.7299342272448689),
 ('pb', 'p_alive', NULL, 26, 30.86, 31, 0.9956425519944374),
 ('pb', 'p_alive', NULL, 50, 10, 38, 8.632038877944088e-26),
 ('pb', 'expected', 39, 0, 0, 38.86, 0.03133629564001162),
 ('pb', 'expected', 39, 2, 30.43, 38.86, 1.3216642275103214),
 ('pb', 'expected', 39, 26, 30.86, 31, 20.390176457432908),
 ('pb', 'expected', 39, 3, 5, 5, 10.178571428571429);
CREATE TEMP TABLE par AS SELECT
    '(0.243,4.414,0.793,2.426,,,)'::bgnbd_params AS bg,
    '(0.5,6.0,1.02,3.0,,,)'::bgnbd_params AS bg1,
    '(0.553,10.578,0.606,11.669,,,)'::paretonbd_params AS pn,
    '(0.8,20,1.5,2,,,)'::paretonbd_params AS pa,
    '(0.8,2,1.5,20,,,)'::paretonbd_params AS pb,
    '(6.25,3.74,15.44,,,)'::gamma_gamma_params AS gg;
SELECT model, what, count(*) AS cases,
       max(abs(got - want) / want) < 1e-9 AS matches
  FROM (SELECT r.*, CASE r.model || r.what
                    WHEN 'bgp_alive' THEN p_alive(p.bg, x, t_x, t_cal)
                    WHEN 'bgexpected' THEN expected_purchases(p.bg, t, x, t_x, t_cal)
                    WHEN 'bg1expected' THEN expected_purchases(p.bg1, t, x, t_x, t_cal)
                    WHEN 'pnp_alive' THEN p_alive(p.pn, x, t_x, t_cal)
                    WHEN 'pnexpected' THEN expected_purchases(p.pn, t, x, t_x, t_cal)
                    WHEN 'pap_alive' THEN p_alive(p.pa, x, t_x, t_cal)
                    WHEN 'paexpected' THEN expected_purchases(p.pa, t, x, t_x, t_cal)
                    WHEN 'pbp_alive' THEN p_alive(p.pb, x, t_x, t_cal)
                    WHEN 'pbexpected' THEN expected_purchases(p.pb, t, x, t_x, t_cal) END AS got
          FROM ref r, par p) c
 GROUP BY model, what ORDER BY model, what;
-- Gamma-Gamma: p (v + x m) / (p x + q - 1); with x = 0 the mean p v / (q - 1).
SELECT abs(expected_spend(gg, 2, 22.345) / 24.659612860892384 - 1) < 1e-12 AS spend_x2,
       abs(expected_spend(gg, 0, NULL) / 35.21897810218978 - 1) < 1e-12 AS spend_x0,
       expected_spend(gg, 1, NULL) IS NULL AS spend_unknown
  FROM par;
-- CLV: 52 weeks (52.5: a last half week), 0.18% a week, against the same discrete sum in Python.
SELECT abs(clv(bg, gg, 2, 30.43, 38.86, 22.345, 52, 0.0018) / 36.783600550453 - 1) < 1e-9 AS bg_x2,
       abs(clv(pn, gg, 2, 30.43, 38.86, 22.345, 52.5, 0.0018) / 44.00417241840846 - 1) < 1e-9 AS pn_x2,
       abs(clv(bg, gg, 0, 0, 38.86, NULL, 52, 0.0018) / 8.485748376815414 - 1) < 1e-9 AS bg_x0,
       abs(clv(pn, gg, 0, 0, 38.86, NULL, 52.5, 0.0018) / 4.624863382158147 - 1) < 1e-9 AS pn_x0,
       clv(bg, gg, 2, 30.43, 38.86, 22.345, 0, 0.0018) = 0 AS zero_horizon
  FROM par;
-- log of int_0^1 t^(a-1) (1 - y t)^-b dt: series, and quadrature for |y| > 1/2,
-- against scipy.integrate.quad.
SELECT a, b, y, abs(clv_log_h(a, b, y) - want) < 1e-12 * greatest(1, abs(want)) AS matches
  FROM (VALUES (0.1, 1.5, 0.3, 2.352815847036187), (2.5, 1.2, 0.9, 0.7244487848439695),
               (0.7, 3.0, 0.99, 8.530312750323567), (3.0, 1.5, -5.0, -3.3205018219945464),
               (1.2, 1.1, -1000.0, -6.023229735412314), (500.0, 2.0, 0.8, -3.0114532417618953),
               (0.05, 1.01, 0.999, 3.299101179011366)) v(a, b, y, want);
-- Monotone in the horizon; P(alive) falls as the last purchase gets older.
SELECT bool_and(e2 >= e1) AS expected_grows, bool_and(a2 <= a1) AS p_alive_falls
  FROM par, generate_series(1, 30) k,
       LATERAL (SELECT expected_purchases(bg, k, 3, 20, 39) AS e1, expected_purchases(bg, k + 1, 3, 20, 39) AS e2,
                       p_alive(pn, 3, 31 - k, 39) AS a1, p_alive(pn, 3, 30 - k, 39) AS a2) v;

\set VERBOSITY default
SELECT p_alive('(0.2,-1,1,1,,,)'::bgnbd_params, 1, 1, 2);
SELECT p_alive(bg, 1, 3, 2) FROM par;
SELECT expected_purchases(bg, -1, 1, 1, 2) FROM par;
SELECT expected_spend('(1,0.9,1,,,)'::gamma_gamma_params, 1, 5);
SELECT clv(bg, gg, 1, 1, 2, 5, 10, -1) FROM par;
SELECT clv_log_h(1, 1, 1);
\set VERBOSITY terse

-- ---------------------------------------------------------------------------
-- Fitting data simulated from each model with known parameters
-- ---------------------------------------------------------------------------
-- Gamma(shape, rate) variates (Marsaglia and Tsang), from random().
CREATE FUNCTION pg_temp.rgamma(shape float8, rate float8) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE d float8; c float8; z float8; v float8; boost float8 := 1;
BEGIN
    IF shape < 1 THEN
        boost := power(1 - random(), 1 / shape);
        shape := shape + 1;
    END IF;
    d := shape - 1.0 / 3;
    c := 1 / sqrt(9 * d);
    LOOP
        LOOP
            z := sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random());
            v := 1 + c * z;
            EXIT WHEN v > 0;
        END LOOP;
        v := v * v * v;
        IF ln(1 - random()) < 0.5 * z * z + d - d * v + d * ln(v) THEN
            RETURN d * v * boost / rate;
        END IF;
    END LOOP;
END $$;
-- BG/NBD: rate ~ Gamma(r, alpha), dropout p ~ Beta(a, b) after each repeat purchase;
-- T uniform over 20..60 weeks; spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v).
CREATE FUNCTION pg_temp.sim_bgnbd(n int, r float8, alpha float8, a float8, b float8,
                                  gp float8, gq float8, gv float8)
    RETURNS TABLE (x int, t_x float8, t_cal float8, mean_spend float8) LANGUAGE plpgsql AS $$
DECLARE lam float8; p float8; g float8; t float8; nu float8; tot float8;
BEGIN
    FOR i IN 1..n LOOP
        lam := pg_temp.rgamma(r, alpha);
        g := pg_temp.rgamma(a, 1);
        p := g / (g + pg_temp.rgamma(b, 1));
        nu := pg_temp.rgamma(gq, gv);
        t_cal := 20 + 40 * random();
        x := 0; t_x := 0; t := 0; tot := 0;
        LOOP
            t := t - ln(1 - random()) / lam;
            EXIT WHEN t > t_cal;
            x := x + 1;
            t_x := t;
            tot := tot + pg_temp.rgamma(gp, nu);
            EXIT WHEN random() < p;
        END LOOP;
        mean_spend := CASE WHEN x > 0 THEN tot / x END;
        RETURN NEXT;
    END LOOP;
END $$;
-- Pareto/NBD: rate ~ Gamma(r, alpha), lifetime ~ Exp(mu), mu ~ Gamma(s, beta).
CREATE FUNCTION pg_temp.sim_pareto(n int, r float8, alpha float8, s float8, beta float8)
    RETURNS TABLE (x int, t_x float8, t_cal float8) LANGUAGE plpgsql AS $$
DECLARE lam float8; tau float8; t float8;
BEGIN
    FOR i IN 1..n LOOP
        lam := pg_temp.rgamma(r, alpha);
        tau := -ln(1 - random()) / pg_temp.rgamma(s, beta);
        t_cal := 20 + 40 * random();
        x := 0; t_x := 0; t := 0;
        LOOP
            t := t - ln(1 - random()) / lam;
            EXIT WHEN t > least(tau, t_cal);
            x := x + 1;
            t_x := t;
        END LOOP;
        RETURN NEXT;
    END LOOP;
END $$;
SELECT setseed(0.31);
CREATE TEMP TABLE sim_bg AS SELECT * FROM pg_temp.sim_bgnbd(20000, 0.5, 4, 0.7, 2.5, 6, 4, 15);
CREATE TEMP TABLE sim_pn AS SELECT * FROM pg_temp.sim_pareto(20000, 0.6, 5, 0.8, 12);
-- Tolerances are four standard errors of each estimate on these samples (relative
-- standard errors from the inverse Hessian of the log-likelihood at the true
-- parameters, computed with SciPy: BG/NBD r 1.3%, alpha 2.0%, a 4.5%, b 6.1%;
-- Pareto/NBD r 2.4%, alpha 2.3%, s 5.7%, beta 10%; Gamma-Gamma p 4.6%, q 1.8%, v 6.3%).
SELECT f.n, f.converged,
       abs(f.r / 0.5 - 1) < 0.053 AS r_ok, abs(f.alpha / 4 - 1) < 0.08 AS alpha_ok,
       abs(f.a / 0.7 - 1) < 0.18 AS a_ok, abs(f.b / 2.5 - 1) < 0.24 AS b_ok
  FROM (SELECT (bgnbd_fit(x, t_x, t_cal)).* FROM sim_bg) f;
SELECT f.n, f.converged,
       abs(f.r / 0.6 - 1) < 0.096 AS r_ok, abs(f.alpha / 5 - 1) < 0.092 AS alpha_ok,
       abs(f.s / 0.8 - 1) < 0.23 AS s_ok, abs(f.beta / 12 - 1) < 0.4 AS beta_ok
  FROM (SELECT (paretonbd_fit(x, t_x, t_cal)).* FROM sim_pn) f;
SELECT f.n = (SELECT count(*) FROM sim_bg WHERE x > 0) AS n_repeat, f.converged,
       abs(f.p / 6 - 1) < 0.18 AS p_ok, abs(f.q / 4 - 1) < 0.072 AS q_ok, abs(f.v / 15 - 1) < 0.25 AS v_ok
  FROM (SELECT (gamma_gamma_fit(x, mean_spend)).* FROM sim_bg) f;
-- Each model's fit also maximises the likelihood of the other model's data sensibly:
-- fitting never fails to converge on data it does not come from.
SELECT (paretonbd_fit(x, t_x, t_cal)).converged AS pareto_on_bg FROM sim_bg;
SELECT (bgnbd_fit(x, t_x, t_cal)).converged AS bg_on_pareto FROM sim_pn;

-- The fit of a stored state is the aggregate's fit; states text and binary round trip.
SELECT bgnbd_fit_final(clv_sample_agg(x, t_x, t_cal))::text = (SELECT bgnbd_fit(x, t_x, t_cal)::text FROM sim_bg) AS same_fit
  FROM sim_bg;
SELECT clv_sample_agg(x, t_x, t_cal)::text::clv_sample::text = clv_sample_agg(x, t_x, t_cal)::text AS text_round_trip,
       bgnbd_fit_final(clv_sample_agg(x, t_x, t_cal)::text::clv_sample)::text = bgnbd_fit_final(clv_sample_agg(x, t_x, t_cal))::text AS same_fit_after_text
  FROM sim_bg;
CREATE TEMP TABLE states AS
SELECT (x > 2) AS k, clv_sample_agg(x, t_x, t_cal) AS st FROM sim_bg GROUP BY 1;
\set f :abs_builddir '/results/clv_states.bin'
COPY states TO :'f' WITH (FORMAT binary);
CREATE TEMP TABLE states_back (k boolean, st clv_sample);
COPY states_back FROM :'f' WITH (FORMAT binary);
SELECT count(*) AS states, count(*) FILTER (WHERE a.st::text = b.st::text) AS equal
  FROM states a JOIN states_back b USING (k);

-- Forced parallel plan: Partial Aggregate, the same fits as the serial plan.
-- (regular tables in public: parallel workers cannot read temporary ones)
CREATE TABLE public.sim_bg_big AS SELECT s.* FROM sim_bg s, generate_series(1, 5);
ANALYZE sim_bg_big;
CREATE TEMP TABLE serial_fits AS
SELECT bgnbd_fit(x, t_x, t_cal) AS bg, paretonbd_fit(x, t_x, t_cal) AS pn,
       gamma_gamma_fit(x, mean_spend) AS gg FROM sim_bg_big;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT bgnbd_fit(x, t_x, t_cal) FROM sim_bg_big;
CREATE TABLE public.parallel_fits AS
SELECT bgnbd_fit(x, t_x, t_cal) AS bg, paretonbd_fit(x, t_x, t_cal) AS pn,
       gamma_gamma_fit(x, mean_spend) AS gg FROM sim_bg_big;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
-- The state is sorted and merged before fitting, so the order rows arrive in
-- does not matter: the parallel fits are bit for bit the serial ones.
SELECT p.bg::text = s.bg::text AS bg_same, p.pn::text = s.pn::text AS pn_same, p.gg::text = s.gg::text AS gg_same
  FROM parallel_fits p, serial_fits s;
-- Five copies of every customer: the same estimates, five times the log-likelihood.
SELECT abs((p.bg).r / f.r - 1) < 1e-7 AND abs((p.bg).b / f.b - 1) < 1e-6 AS same_estimates,
       abs((p.bg).loglik / (5 * f.loglik) - 1) < 1e-12 AND (p.bg).n = 5 * f.n AS five_times
  FROM parallel_fits p, (SELECT (bgnbd_fit(x, t_x, t_cal)).* FROM sim_bg) f;

-- ---------------------------------------------------------------------------
-- crm.clv_summary and crm.refresh_clv on crm.purchase
-- ---------------------------------------------------------------------------
INSERT INTO customer (id, name) VALUES (9101, 'Ada'), (9102, 'Bo'), (9103, 'Cy'), (9104, 'Di');
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount) VALUES
    (9101, '2026-01-01 10:00+00', 'store', 'tea', 10),
    (9101, '2026-01-01 18:00+00', 'store', 'cake', 5),      -- same day: one transaction of 15
    (9101, '2026-01-15 09:00+00', 'online', 'tea', 20),
    (9101, '2026-02-12 09:00+00', 'online', 'tea', 30),
    (9102, '2026-02-05 12:00+00', 'app', 'tea', 8),
    (9103, '2026-01-08 12:00+00', 'app', 'tea', 8),
    (9103, '2026-03-20 12:00+00', 'app', 'tea', 8);          -- after the calibration end
-- Ada: first day Jan 1, repeat days Jan 15 and Feb 12: x = 2, t_x = 42 days = 6 weeks,
-- T = Mar 1 - Jan 1 = 59 days, mean repeat spend (20 + 30) / 2 = 25.  Bo: x = 0, T = 24 days.
-- Cy: the March purchase is after the end: x = 0.  Di has no purchase.
SELECT customer_id, x, t_x, t_cal, mean_spend, first_purchase, last_purchase
  FROM clv_summary('2026-03-01 00:00+00', 'day') ORDER BY customer_id;
SELECT customer_id, x, t_x, round(t_cal::numeric, 6) AS t_cal, mean_spend
  FROM clv_summary('2026-03-01 00:00+00') ORDER BY customer_id;
-- A user's table, quoted names, no amount column.
CREATE TEMP TABLE "My Sales" ("Client" int, "When" date);
INSERT INTO "My Sales" VALUES (1, '2026-01-01'), (1, '2026-01-03'), (2, '2026-01-02'), (NULL, '2026-01-02');
SELECT * FROM clv_summary('2026-01-10', 'day', '"My Sales"', 'Client', 'When', NULL) ORDER BY 1;
\set VERBOSITY default
SELECT * FROM clv_summary(now(), 'month');
SELECT * FROM clv_summary(now(), 'day', 'crm.purchase', 'nobody');
SELECT refresh_clv(model => 'rfm');
SELECT refresh_clv(churn_threshold => 1.5);
\set VERBOSITY terse

-- Scoring: 3,000 simulated BG/NBD customers become crm.customer rows, with
-- purchases on whole days (first at the end - T, the last at first + t_x,
-- the others spread between; repeat purchases at their mean spend).
CREATE TEMP TABLE sim_c AS SELECT row_number() OVER () AS k, * FROM sim_bg LIMIT 3000;
INSERT INTO customer (id, name) SELECT 100000 + k, 'sim ' || k FROM sim_c;
INSERT INTO purchase (customer_id, purchased_at, channel, product, amount)
SELECT 100000 + k,
       timestamptz '2026-01-01' - make_interval(days => round(t_cal * 7)::int)
                                + make_interval(days => round(t_x * 7 * j / greatest(x, 1))::int),
       'store', 'tea', CASE WHEN j = 0 THEN 10 ELSE round(mean_spend::numeric, 2) END
  FROM sim_c, generate_series(0, x) j;
SELECT refresh_clv('2026-01-01 00:00+00') AS scored;
SELECT count(*) AS customers, count(*) FILTER (WHERE p_alive BETWEEN 0 AND 1) AS valid_p_alive,
       count(*) FILTER (WHERE expected_purchases_90d >= 0) AS valid_expected,
       count(*) FILTER (WHERE churn_risk = (p_alive < 0.5)) AS risk_flag_consistent,
       count(*) FILTER (WHERE clv > 0 AND expected_spend > 0) AS valued,
       bool_and(scored_at = '2026-01-01 00:00+00') AS stamped
  FROM customer_clv;
-- The stored scores equal the prediction functions with the fitted parameters.
WITH s AS (SELECT * FROM clv_summary('2026-01-01 00:00+00') WHERE customer_id IN (SELECT id FROM customer)),
     f AS (SELECT bgnbd_fit(x, t_x, t_cal) AS p, gamma_gamma_fit(x, mean_spend) AS g FROM s)
SELECT count(*) AS checked,
       count(*) FILTER (WHERE c.p_alive = p_alive(f.p, s.x, s.t_x, s.t_cal)
                          AND c.expected_purchases_90d = expected_purchases(f.p, 90 / 7.0, s.x, s.t_x, s.t_cal)
                          AND c.expected_spend = expected_spend(f.g, s.x, s.mean_spend)
                          AND abs(c.clv / clv(f.p, f.g, s.x, s.t_x, s.t_cal, s.mean_spend, 365.25 / 7, power(1.1, 7 / 365.25) - 1) - 1) < 1e-12) AS equal
  FROM s JOIN customer_clv c USING (customer_id), f;
SELECT refresh_clv('2026-01-01 00:00+00', 'paretonbd', 0.3, '6 months', 0.05, 'day') AS scored_pareto;
SELECT count(*) AS customers, count(*) FILTER (WHERE churn_risk = (p_alive < 0.3)) AS risk_flag_consistent
  FROM customer_clv;
SELECT count(*) AS on_board, min(clv_rank) AS top_rank, count(*) FILTER (WHERE name LIKE 'sim %') AS named,
       bool_and(clv_rank = r) AS ranked_by_clv
  FROM (SELECT b.*, rank() OVER (ORDER BY clv DESC NULLS LAST) AS r FROM customer_clv_board b) v;
-- A customer merged into another, or deleted, takes its stored scores along.
SELECT count(*) AS scored_before FROM customer_clv WHERE customer_id IN (100001, 100002, 100003);
SELECT merge_customers(100001, 100002) IS NOT NULL AS merged;
DELETE FROM purchase WHERE customer_id = 100003;
DELETE FROM customer WHERE id = 100003;
SELECT customer_id FROM customer_clv WHERE customer_id IN (100001, 100002, 100003) ORDER BY 1;
SELECT count(*) AS orphans FROM customer_clv v WHERE NOT EXISTS (SELECT 1 FROM customer c WHERE c.id = v.customer_id);
DELETE FROM purchase WHERE customer_id >= 9101;
DELETE FROM customer_clv;
DELETE FROM customer WHERE id >= 9101;
DROP TABLE public.sim_bg_big, public.parallel_fits;

-- Scoring caches.  A call site memoises per-customer results after 64 calls;
-- every change of parameters, period, horizon or rate must invalidate them.
-- 30 distinct inputs scored once each (no memo: fewer than 64 calls per call
-- site) are the reference for 900 rows scored in that order by one call site,
-- the inputs cycling so that parameters, period and customer change while the
-- memo is on.
CREATE TEMP TABLE cache_in AS
SELECT k, pi, ti, ci,
       (ARRAY[ROW(0.243, 4.414, 0.793, 2.426, 0, 0, true), ROW(0.5, 6.0, 1.02, 3.0, 0, 0, true),
              ROW(0.3, 5.0, 0.5, 1.5, 0, 0, true)]::bgnbd_params[])[pi] AS bg,
       (ARRAY[ROW(0.553, 10.578, 0.606, 11.669, 0, 0, true), ROW(0.8, 20.0, 1.5, 2.0, 0, 0, true),
              ROW(0.8, 2.0, 1.5, 20.0, 0, 0, true)]::paretonbd_params[])[pi] AS pn,
       ROW(6.25, 3.74, 15.44, 0, 0, true)::gamma_gamma_params AS gg,
       (ARRAY[13.0, 52.0])[ti] AS t, (ARRAY[0.0, 0.002])[ti] AS rate,
       (ARRAY[0, 1, 2, 26, 3])[ci] AS x, (ARRAY[0, 1.71, 30.43, 30.86, 5.0])[ci] AS t_x,
       (ARRAY[38.86, 38.86, 38.86, 31.0, 5.0])[ci] AS t_cal
  FROM (SELECT row_number() OVER () AS k, pi, ti, ci
          FROM generate_series(1, 3) pi, generate_series(1, 2) ti, generate_series(1, 5) ci) s;
CREATE TEMP TABLE cache_ref AS
SELECT k, p_alive(bg, x, t_x, t_cal) AS bg_alive, expected_purchases(bg, t, x, t_x, t_cal) AS bg_exp,
       p_alive(pn, x, t_x, t_cal) AS pn_alive, expected_purchases(pn, t, x, t_x, t_cal) AS pn_exp,
       expected_spend(gg, x, 20) AS spend,
       clv(bg, gg, x, t_x, t_cal, 20, t, rate) AS bg_clv, clv(pn, gg, x, t_x, t_cal, 20, t, rate) AS pn_clv
  FROM cache_in;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE bg_alive = p_alive(bg, x, t_x, t_cal)) AS bg_alive,
       count(*) FILTER (WHERE bg_exp = expected_purchases(bg, t, x, t_x, t_cal)) AS bg_exp,
       count(*) FILTER (WHERE pn_alive = p_alive(pn, x, t_x, t_cal)) AS pn_alive,
       count(*) FILTER (WHERE pn_exp = expected_purchases(pn, t, x, t_x, t_cal)) AS pn_exp,
       count(*) FILTER (WHERE spend = expected_spend(gg, x, 20)) AS spend,
       count(*) FILTER (WHERE bg_clv = clv(bg, gg, x, t_x, t_cal, 20, t, rate)) AS bg_clv,
       count(*) FILTER (WHERE pn_clv = clv(pn, gg, x, t_x, t_cal, 20, t, rate)) AS pn_clv
  FROM (SELECT c.*, r.bg_alive, r.bg_exp, r.pn_alive, r.pn_exp, r.spend, r.bg_clv, r.pn_clv
          FROM generate_series(1, 900) i
          JOIN cache_in c ON c.pi = 1 + (i / 100) % 3 AND c.ti = 1 + (i / 7) % 2 AND c.ci = 1 + (i * 3) % 5
          JOIN cache_ref r USING (k)
         ORDER BY i OFFSET 0) s;
-- The reference values themselves differ between parameter sets and periods.
SELECT count(DISTINCT bg_exp) AS distinct_bg_exp, count(DISTINCT pn_alive) AS distinct_pn_alive,
       count(DISTINCT bg_clv) AS distinct_bg_clv
  FROM cache_ref;
