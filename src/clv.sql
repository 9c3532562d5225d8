
-- ---------------------------------------------------------------------------
-- Customer lifetime value and churn risk.
-- ---------------------------------------------------------------------------

CREATE TABLE crm.customer_clv (
    customer_id            bigint PRIMARY KEY,
    p_alive                float8 NOT NULL CHECK (p_alive BETWEEN 0 AND 1),
    expected_purchases_90d float8 NOT NULL CHECK (expected_purchases_90d >= 0),
    expected_spend         float8,
    clv                    float8,
    churn_risk             boolean NOT NULL,
    scored_at              timestamptz NOT NULL
);
COMMENT ON TABLE crm.customer_clv IS 'result of the last CLV scoring: one row per customer with purchases';
COMMENT ON COLUMN crm.customer_clv.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_clv.p_alive IS 'probability that the customer is still active';
COMMENT ON COLUMN crm.customer_clv.expected_purchases_90d IS 'expected number of purchases in the next 90 days';
COMMENT ON COLUMN crm.customer_clv.expected_spend IS 'expected spend per future purchase';
COMMENT ON COLUMN crm.customer_clv.clv IS 'expected discounted value of future purchases over the horizon';
COMMENT ON COLUMN crm.customer_clv.churn_risk IS 'true when p_alive is below the churn threshold';
COMMENT ON COLUMN crm.customer_clv.scored_at IS 'the calibration end the scores were computed for';

SELECT pg_catalog.pg_extension_config_dump('crm.customer_clv', '');

-- Stored scores of a customer that no longer exists (deleted, or merged into
-- another by crm.merge_customers) go with it; see crm.forget_rfm_score.
CREATE FUNCTION crm.forget_clv() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM crm.customer_clv WHERE customer_id = OLD.id;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.forget_clv() FROM PUBLIC;
COMMENT ON FUNCTION crm.forget_clv() IS 'AFTER DELETE row trigger on crm.customer: deletes the stored CLV scores of the deleted (or merged) customer';
CREATE TRIGGER crm_forget_clv AFTER DELETE ON crm.customer
    FOR EACH ROW EXECUTE FUNCTION crm.forget_clv();
COMMENT ON TRIGGER crm_forget_clv ON crm.customer IS 'a deleted customer''s stored CLV scores go with it (crm.forget_clv)';

-- Per-customer summary of a purchase table: x, t_x, T and mean repeat spend.

CREATE FUNCTION crm.clv_time_unit_days(time_unit text) RETURNS double precision
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    CASE lower(time_unit)
        WHEN 'day' THEN RETURN 1;
        WHEN 'week' THEN RETURN 7;
        ELSE
            RAISE EXCEPTION 'unknown time unit "%"', time_unit
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'The CLV models measure time in days or in weeks.',
                      HINT = 'Pass ''day'' or ''week''.';
    END CASE;
END
$$;
COMMENT ON FUNCTION crm.clv_time_unit_days(text) IS 'length in days of a CLV time unit: day = 1, week = 7; any other unit is an error';

CREATE FUNCTION crm.clv_summary(
        calibration_end timestamptz DEFAULT now(),
        time_unit text DEFAULT 'week',
        source regclass DEFAULT 'crm.purchase',
        customer_col name DEFAULT 'customer_id',
        time_col name DEFAULT 'purchased_at',
        amount_col name DEFAULT 'amount')
    RETURNS TABLE (customer_id bigint, x integer, t_x double precision, t_cal double precision,
                   mean_spend double precision, first_purchase date, last_purchase date)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    unit double precision := crm.clv_time_unit_days(time_unit);
BEGIN
    IF calibration_end IS NULL OR source IS NULL OR customer_col IS NULL OR time_col IS NULL THEN
        RAISE EXCEPTION 'crm.clv_summary needs a calibration end, a table, a customer column and a time column'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'Only amount_col may be NULL (then mean_spend is NULL).',
                  HINT = 'Pass the missing argument.';
    END IF;
    RETURN QUERY EXECUTE format(
        $q$
        WITH d AS (
            SELECT %1$I::bigint AS cid, %2$I::date AS day, sum(%3$s)::float8 AS amount
              FROM %4$s
             WHERE %2$I <= $1 AND %1$I IS NOT NULL AND %2$I IS NOT NULL
             GROUP BY 1, 2),
        k AS (
            SELECT cid, day, amount, row_number() OVER (PARTITION BY cid ORDER BY day) AS k FROM d)
        SELECT cid, (count(*) - 1)::integer,
               CASE WHEN count(*) > 1 THEN (max(day) - min(day)) / $2 ELSE 0 END,
               ($1::date - min(day)) / $2,
               avg(amount) FILTER (WHERE k > 1),
               min(day), max(day)
          FROM k GROUP BY cid
        $q$,
        customer_col, time_col,
        CASE WHEN amount_col IS NULL THEN 'NULL::float8' ELSE format('%I', amount_col) END,
        source)
    USING calibration_end, unit;
END
$$;
COMMENT ON FUNCTION crm.clv_summary(timestamptz, text, regclass, name, name, name) IS 'per customer of a purchase table, up to the calibration end: x = repeat purchases (distinct purchase days after the first), t_x = time from the first to the last purchase day, t_cal = time from the first purchase day to the calibration end (T of the models), in days or weeks; mean_spend = mean spend of the repeat purchase days (NULL when x = 0); purchases on one day count as one';

-- Fitted parameters.

CREATE TYPE crm.bgnbd_params AS (
    r         double precision,
    alpha     double precision,
    a         double precision,
    b         double precision,
    loglik    double precision,
    n         bigint,
    converged boolean
);
COMMENT ON TYPE crm.bgnbd_params IS 'BG/NBD parameters (purchase rate ~ Gamma(r, alpha), dropout probability ~ Beta(a, b)), with the log-likelihood, number of customers and whether the optimiser converged';

CREATE TYPE crm.paretonbd_params AS (
    r         double precision,
    alpha     double precision,
    s         double precision,
    beta      double precision,
    loglik    double precision,
    n         bigint,
    converged boolean
);
COMMENT ON TYPE crm.paretonbd_params IS 'Pareto/NBD parameters (purchase rate ~ Gamma(r, alpha), dropout rate ~ Gamma(s, beta)), with the log-likelihood, number of customers and whether the optimiser converged';

CREATE TYPE crm.gamma_gamma_params AS (
    p         double precision,
    q         double precision,
    v         double precision,
    loglik    double precision,
    n         bigint,
    converged boolean
);
COMMENT ON TYPE crm.gamma_gamma_params IS 'Gamma-Gamma spend parameters (spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v)), with the log-likelihood, number of customers with repeat purchases and whether the optimiser converged';

-- Aggregate states.

CREATE TYPE crm.clv_sample;
CREATE FUNCTION crm.clv_sample_in(cstring) RETURNS crm.clv_sample
    AS 'MODULE_PATHNAME', 'clv_sample_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_sample_in(cstring) IS 'text input of crm.clv_sample: {(x,t_x,T,count),...}';
CREATE FUNCTION crm.clv_sample_out(crm.clv_sample) RETURNS cstring
    AS 'MODULE_PATHNAME', 'clv_sample_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_sample_out(crm.clv_sample) IS 'text output of crm.clv_sample: rows sorted, numbers in their shortest exact form';
CREATE FUNCTION crm.clv_sample_recv(internal) RETURNS crm.clv_sample
    AS 'MODULE_PATHNAME', 'clv_sample_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_sample_recv(internal) IS 'binary input of crm.clv_sample';
CREATE FUNCTION crm.clv_sample_send(crm.clv_sample) RETURNS bytea
    AS 'MODULE_PATHNAME', 'clv_sample_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_sample_send(crm.clv_sample) IS 'binary output of crm.clv_sample';
CREATE TYPE crm.clv_sample (
    INPUT = crm.clv_sample_in,
    OUTPUT = crm.clv_sample_out,
    RECEIVE = crm.clv_sample_recv,
    SEND = crm.clv_sample_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE crm.clv_sample IS 'state of crm.bgnbd_fit and crm.paretonbd_fit: the distinct (x, t_x, T) of the customers seen, with counts; exact text and binary round trip';

CREATE TYPE crm.clv_spend_sample;
CREATE FUNCTION crm.clv_spend_sample_in(cstring) RETURNS crm.clv_spend_sample
    AS 'MODULE_PATHNAME', 'clv_spend_sample_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_spend_sample_in(cstring) IS 'text input of crm.clv_spend_sample: {(x,mean_spend,count),...}';
CREATE FUNCTION crm.clv_spend_sample_out(crm.clv_spend_sample) RETURNS cstring
    AS 'MODULE_PATHNAME', 'clv_sample_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_spend_sample_out(crm.clv_spend_sample) IS 'text output of crm.clv_spend_sample: rows sorted, numbers in their shortest exact form';
CREATE FUNCTION crm.clv_spend_sample_recv(internal) RETURNS crm.clv_spend_sample
    AS 'MODULE_PATHNAME', 'clv_spend_sample_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_spend_sample_recv(internal) IS 'binary input of crm.clv_spend_sample';
CREATE FUNCTION crm.clv_spend_sample_send(crm.clv_spend_sample) RETURNS bytea
    AS 'MODULE_PATHNAME', 'clv_sample_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_spend_sample_send(crm.clv_spend_sample) IS 'binary output of crm.clv_spend_sample';
CREATE TYPE crm.clv_spend_sample (
    INPUT = crm.clv_spend_sample_in,
    OUTPUT = crm.clv_spend_sample_out,
    RECEIVE = crm.clv_spend_sample_recv,
    SEND = crm.clv_spend_sample_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE crm.clv_spend_sample IS 'state of crm.gamma_gamma_fit: the distinct (x, mean spend) of the customers with repeat purchases, with counts; exact text and binary round trip';

CREATE FUNCTION crm.clv_sample_trans(crm.clv_sample, integer, double precision, double precision) RETURNS crm.clv_sample
    AS 'MODULE_PATHNAME', 'clv_sample_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_sample_trans(crm.clv_sample, integer, double precision, double precision) IS 'transition function of crm.bgnbd_fit and crm.paretonbd_fit';
CREATE FUNCTION crm.clv_sample_combine(crm.clv_sample, crm.clv_sample) RETURNS crm.clv_sample
    AS 'MODULE_PATHNAME', 'clv_sample_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_sample_combine(crm.clv_sample, crm.clv_sample) IS 'combine function of crm.bgnbd_fit and crm.paretonbd_fit';
CREATE FUNCTION crm.clv_spend_sample_trans(crm.clv_spend_sample, integer, double precision) RETURNS crm.clv_spend_sample
    AS 'MODULE_PATHNAME', 'clv_spend_sample_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_spend_sample_trans(crm.clv_spend_sample, integer, double precision) IS 'transition function of crm.gamma_gamma_fit';
CREATE FUNCTION crm.clv_spend_sample_combine(crm.clv_spend_sample, crm.clv_spend_sample) RETURNS crm.clv_spend_sample
    AS 'MODULE_PATHNAME', 'clv_sample_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_spend_sample_combine(crm.clv_spend_sample, crm.clv_spend_sample) IS 'combine function of crm.gamma_gamma_fit';

CREATE FUNCTION crm.bgnbd_fit_final(crm.clv_sample) RETURNS crm.bgnbd_params
    AS 'MODULE_PATHNAME', 'bgnbd_fit_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.bgnbd_fit_final(crm.clv_sample) IS 'final function of crm.bgnbd_fit: maximum likelihood estimates; also callable on a stored state';
CREATE FUNCTION crm.paretonbd_fit_final(crm.clv_sample) RETURNS crm.paretonbd_params
    AS 'MODULE_PATHNAME', 'paretonbd_fit_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.paretonbd_fit_final(crm.clv_sample) IS 'final function of crm.paretonbd_fit: maximum likelihood estimates; also callable on a stored state';
CREATE FUNCTION crm.gamma_gamma_fit_final(crm.clv_spend_sample) RETURNS crm.gamma_gamma_params
    AS 'MODULE_PATHNAME', 'gamma_gamma_fit_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.gamma_gamma_fit_final(crm.clv_spend_sample) IS 'final function of crm.gamma_gamma_fit: maximum likelihood estimates; also callable on a stored state';

CREATE AGGREGATE crm.clv_sample_agg(x integer, t_x double precision, t_cal double precision) (
    SFUNC = crm.clv_sample_trans,
    STYPE = crm.clv_sample,
    COMBINEFUNC = crm.clv_sample_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.clv_sample_agg(integer, double precision, double precision) IS 'the customers'' (x, t_x, T) compressed into a crm.clv_sample, to store or to fit several models on (rows with a NULL are skipped)';

CREATE AGGREGATE crm.bgnbd_fit(x integer, t_x double precision, t_cal double precision) (
    SFUNC = crm.clv_sample_trans,
    STYPE = crm.clv_sample,
    FINALFUNC = crm.bgnbd_fit_final,
    COMBINEFUNC = crm.clv_sample_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.bgnbd_fit(integer, double precision, double precision) IS 'maximum likelihood fit of the BG/NBD model to one row per customer: x repeat purchases, t_x time of the last purchase and t_cal (T) time of the calibration end, both from the first purchase; rows with a NULL are skipped';

CREATE AGGREGATE crm.paretonbd_fit(x integer, t_x double precision, t_cal double precision) (
    SFUNC = crm.clv_sample_trans,
    STYPE = crm.clv_sample,
    FINALFUNC = crm.paretonbd_fit_final,
    COMBINEFUNC = crm.clv_sample_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.paretonbd_fit(integer, double precision, double precision) IS 'maximum likelihood fit of the Pareto/NBD model to one row per customer (x, t_x, T); rows with a NULL are skipped';

CREATE AGGREGATE crm.gamma_gamma_fit(x integer, mean_spend double precision) (
    SFUNC = crm.clv_spend_sample_trans,
    STYPE = crm.clv_spend_sample,
    FINALFUNC = crm.gamma_gamma_fit_final,
    COMBINEFUNC = crm.clv_spend_sample_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.gamma_gamma_fit(integer, double precision) IS 'maximum likelihood fit of the Gamma-Gamma spend model to one row per customer: x repeat purchases and their mean spend; customers with x = 0 and rows with a NULL are skipped';

-- Predictions.

CREATE FUNCTION crm.p_alive(params crm.bgnbd_params, x integer, t_x double precision, t_cal double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'bgnbd_p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_alive(crm.bgnbd_params, integer, double precision, double precision) IS 'BG/NBD probability that a customer with summary (x, t_x, T) is still active at T (1 when x = 0)';
CREATE FUNCTION crm.p_alive(params crm.paretonbd_params, x integer, t_x double precision, t_cal double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'paretonbd_p_alive' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.p_alive(crm.paretonbd_params, integer, double precision, double precision) IS 'Pareto/NBD probability that a customer with summary (x, t_x, T) is still active at T';
CREATE FUNCTION crm.expected_purchases(params crm.bgnbd_params, t double precision, x integer, t_x double precision, t_cal double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'bgnbd_expected_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_purchases(crm.bgnbd_params, double precision, integer, double precision, double precision) IS 'BG/NBD expected number of purchases in the next t time units of a customer with summary (x, t_x, T)';
CREATE FUNCTION crm.expected_purchases(params crm.paretonbd_params, t double precision, x integer, t_x double precision, t_cal double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'paretonbd_expected_purchases' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_purchases(crm.paretonbd_params, double precision, integer, double precision, double precision) IS 'Pareto/NBD expected number of purchases in the next t time units of a customer with summary (x, t_x, T)';
CREATE FUNCTION crm.expected_spend(params crm.gamma_gamma_params, x integer, mean_spend double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'gamma_gamma_expected_spend' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.expected_spend(crm.gamma_gamma_params, integer, double precision) IS 'Gamma-Gamma expected spend per future purchase of a customer with x repeat purchases of the given mean spend; with x = 0 the population mean p v / (q - 1) (mean_spend may then be NULL)';
CREATE FUNCTION crm.clv(params crm.bgnbd_params, spend_params crm.gamma_gamma_params, x integer, t_x double precision, t_cal double precision,
                        mean_spend double precision, horizon double precision, discount_rate double precision DEFAULT 0) RETURNS double precision
    AS 'MODULE_PATHNAME', 'bgnbd_clv' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv(crm.bgnbd_params, crm.gamma_gamma_params, integer, double precision, double precision, double precision, double precision, double precision) IS 'expected value of a customer''s purchases over the next horizon time units (BG/NBD purchases times Gamma-Gamma spend), each time unit''s purchases discounted by (1 + discount_rate) to the power of its end; mean_spend may be NULL when x = 0';
CREATE FUNCTION crm.clv(params crm.paretonbd_params, spend_params crm.gamma_gamma_params, x integer, t_x double precision, t_cal double precision,
                        mean_spend double precision, horizon double precision, discount_rate double precision DEFAULT 0) RETURNS double precision
    AS 'MODULE_PATHNAME', 'paretonbd_clv' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv(crm.paretonbd_params, crm.gamma_gamma_params, integer, double precision, double precision, double precision, double precision, double precision) IS 'expected value of a customer''s purchases over the next horizon time units (Pareto/NBD purchases times Gamma-Gamma spend), each time unit''s purchases discounted by (1 + discount_rate) to the power of its end; mean_spend may be NULL when x = 0';
CREATE FUNCTION crm.clv_log_h(a double precision, b double precision, y double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'clv_log_h' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.clv_log_h(double precision, double precision, double precision) IS 'log of the integral from 0 to 1 of t^(a-1) (1 - y t)^(-b) dt = 2F1(a, b; a + 1; y) / a, as used by the Pareto/NBD likelihood (a > 0, b > 0, y < 1)';

-- Scoring crm.customer.

CREATE FUNCTION crm.refresh_clv(
        calibration_end timestamptz DEFAULT now(),
        model text DEFAULT 'bgnbd',
        churn_threshold double precision DEFAULT 0.5,
        horizon interval DEFAULT '1 year',
        annual_discount_rate double precision DEFAULT 0.1,
        time_unit text DEFAULT 'week')
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    unit double precision := crm.clv_time_unit_days(time_unit);
    h double precision;
    rate double precision;
    n bigint;
    pb crm.bgnbd_params;
    pp crm.paretonbd_params;
    gg crm.gamma_gamma_params;
BEGIN
    IF calibration_end IS NULL OR churn_threshold IS NULL OR horizon IS NULL OR annual_discount_rate IS NULL THEN
        RAISE EXCEPTION 'crm.refresh_clv arguments must not be NULL'
            USING ERRCODE = 'null_value_not_allowed', DETAIL = 'Every argument has a default.',
                  HINT = 'Leave an argument out to use its default.';
    END IF;
    IF model IS NULL OR model NOT IN ('bgnbd', 'paretonbd') THEN
        RAISE EXCEPTION 'unknown CLV model "%"', model
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The purchase models are bgnbd and paretonbd.',
                  HINT = 'Pass ''bgnbd'' or ''paretonbd''.';
    END IF;
    IF NOT churn_threshold BETWEEN 0 AND 1 THEN
        RAISE EXCEPTION 'churn threshold % is not a probability', churn_threshold
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'Customers whose p_alive is below the threshold are flagged.',
                  HINT = 'Pass a number between 0 and 1, such as 0.5.';
    END IF;
    IF annual_discount_rate <= -1 OR extract(epoch FROM horizon) < 0 THEN
        RAISE EXCEPTION 'invalid horizon or discount rate (%, %)', horizon, annual_discount_rate
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'The horizon must not be negative and the yearly rate must be above -1.',
                  HINT = 'Pass for example interval ''1 year'' and 0.1 for 10% a year.';
    END IF;
    h := extract(epoch FROM horizon) / 86400 / unit;
    rate := power(1 + annual_discount_rate, unit / 365.25) - 1;

    IF to_regclass('pg_temp.crm_clv_refresh') IS NOT NULL THEN
        DROP TABLE pg_temp.crm_clv_refresh;
    END IF;
    CREATE TEMP TABLE crm_clv_refresh ON COMMIT DROP AS
    SELECT s.customer_id, s.x, s.t_x, s.t_cal, s.mean_spend
      FROM crm.clv_summary(calibration_end, time_unit) s
     WHERE s.customer_id IN (SELECT c.id FROM crm.customer c);
    gg := (SELECT crm.gamma_gamma_fit(s.x, s.mean_spend) FROM pg_temp.crm_clv_refresh s);
    IF gg IS NOT NULL AND NOT gg.q > 1 THEN
        RAISE WARNING 'Gamma-Gamma fit has q = % <= 1: expected spend and CLV left NULL', gg.q;
        gg := NULL;
    END IF;

    LOCK TABLE crm.customer_clv IN EXCLUSIVE MODE;
    DELETE FROM crm.customer_clv;
    IF model = 'bgnbd' THEN
        pb := (SELECT crm.bgnbd_fit(s.x, s.t_x, s.t_cal) FROM pg_temp.crm_clv_refresh s);
        IF pb IS NOT NULL AND NOT pb.converged THEN
            RAISE WARNING 'the BG/NBD fit did not converge: %', pb;
        END IF;
        INSERT INTO crm.customer_clv (customer_id, p_alive, expected_purchases_90d, expected_spend, clv, churn_risk, scored_at)
        SELECT s.customer_id, a.p_alive, crm.expected_purchases(pb, 90 / unit, s.x, s.t_x, s.t_cal),
               crm.expected_spend(gg, s.x, s.mean_spend),
               crm.clv(pb, gg, s.x, s.t_x, s.t_cal, s.mean_spend, h, rate),
               a.p_alive < churn_threshold, calibration_end
          FROM pg_temp.crm_clv_refresh s,
               LATERAL (SELECT crm.p_alive(pb, s.x, s.t_x, s.t_cal) AS p_alive) a
         WHERE pb IS NOT NULL;
    ELSE
        pp := (SELECT crm.paretonbd_fit(s.x, s.t_x, s.t_cal) FROM pg_temp.crm_clv_refresh s);
        IF pp IS NOT NULL AND NOT pp.converged THEN
            RAISE WARNING 'the Pareto/NBD fit did not converge: %', pp;
        END IF;
        INSERT INTO crm.customer_clv (customer_id, p_alive, expected_purchases_90d, expected_spend, clv, churn_risk, scored_at)
        SELECT s.customer_id, a.p_alive, crm.expected_purchases(pp, 90 / unit, s.x, s.t_x, s.t_cal),
               crm.expected_spend(gg, s.x, s.mean_spend),
               crm.clv(pp, gg, s.x, s.t_x, s.t_cal, s.mean_spend, h, rate),
               a.p_alive < churn_threshold, calibration_end
          FROM pg_temp.crm_clv_refresh s,
               LATERAL (SELECT crm.p_alive(pp, s.x, s.t_x, s.t_cal) AS p_alive) a
         WHERE pp IS NOT NULL;
    END IF;
    GET DIAGNOSTICS n = ROW_COUNT;
    DROP TABLE pg_temp.crm_clv_refresh;
    RETURN n;
END
$$;
COMMENT ON FUNCTION crm.refresh_clv(timestamptz, text, double precision, interval, double precision, text) IS 'recomputes crm.customer_clv from crm.purchase up to the calibration end: fits the purchase model (bgnbd or paretonbd) and Gamma-Gamma, then stores p_alive, expected purchases in the next 90 days, expected spend, CLV over the horizon discounted at the yearly rate, and churn_risk = p_alive below the threshold; returns the number of customers scored';

CREATE VIEW crm.customer_clv_board AS
SELECT c.id AS customer_id, c.name, c.owner, v.p_alive, v.expected_purchases_90d, v.expected_spend, v.clv, v.churn_risk,
       rank() OVER (ORDER BY v.clv DESC NULLS LAST) AS clv_rank, v.scored_at
  FROM crm.customer c
  JOIN crm.customer_clv v ON v.customer_id = c.id;
COMMENT ON VIEW crm.customer_clv_board IS 'scored customers of the last crm.refresh_clv() with name and owner, ranked by CLV: the BI view for churn risk and customer value';
COMMENT ON COLUMN crm.customer_clv_board.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_clv_board.name IS 'customer name';
COMMENT ON COLUMN crm.customer_clv_board.owner IS 'staff login responsible for the customer';
COMMENT ON COLUMN crm.customer_clv_board.p_alive IS 'probability that the customer is still active';
COMMENT ON COLUMN crm.customer_clv_board.expected_purchases_90d IS 'expected purchases in the next 90 days';
COMMENT ON COLUMN crm.customer_clv_board.expected_spend IS 'expected spend per future purchase';
COMMENT ON COLUMN crm.customer_clv_board.clv IS 'expected discounted value over the horizon';
COMMENT ON COLUMN crm.customer_clv_board.churn_risk IS 'true when p_alive is below the churn threshold of the refresh';
COMMENT ON COLUMN crm.customer_clv_board.clv_rank IS '1 for the highest CLV';
COMMENT ON COLUMN crm.customer_clv_board.scored_at IS 'calibration end of the scores';
