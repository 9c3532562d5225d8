
-- ---------------------------------------------------------------------------
-- RFM: the crm.rfm score type, per-customer and quantile aggregates, scoring,
-- the segment map, crm.rfm_analyze and the stored result with its views
-- ---------------------------------------------------------------------------

CREATE TYPE crm.rfm;

CREATE FUNCTION crm.rfm_in(cstring) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_in(cstring) IS 'text input of crm.rfm: 543 or 5-4-3';
CREATE FUNCTION crm.rfm_out(crm.rfm) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_out(crm.rfm) IS 'text output of crm.rfm: three digits';
CREATE FUNCTION crm.rfm_recv(internal) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_recv(internal) IS 'binary input of crm.rfm';
CREATE FUNCTION crm.rfm_send(crm.rfm) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_send(crm.rfm) IS 'binary output of crm.rfm (an int16: r * 100 + f * 10 + m)';

CREATE TYPE crm.rfm (
    INPUT = crm.rfm_in,
    OUTPUT = crm.rfm_out,
    RECEIVE = crm.rfm_recv,
    SEND = crm.rfm_send,
    INTERNALLENGTH = 2,
    PASSEDBYVALUE,
    ALIGNMENT = int2,
    STORAGE = plain
);
COMMENT ON TYPE crm.rfm IS 'RFM score: recency, frequency and monetary scores 1..5, written 543 (also read as 5-4-3), ordered by r, then f, then m';

CREATE FUNCTION crm.rfm(r integer, f integer, m integer) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_make' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm(integer, integer, integer) IS 'builds an RFM score from its three scores, each 1..5';
CREATE FUNCTION crm.r(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_r' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.r(crm.rfm) IS 'recency score 1..5 of an RFM score (5 = most recent)';
CREATE FUNCTION crm.f(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_f' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.f(crm.rfm) IS 'frequency score 1..5 of an RFM score (5 = most frequent)';
CREATE FUNCTION crm.m(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_m' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.m(crm.rfm) IS 'monetary score 1..5 of an RFM score (5 = highest spend)';

CREATE FUNCTION crm.rfm_eq(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_eq(crm.rfm, crm.rfm) IS 'implementation of the = operator of crm.rfm';
CREATE FUNCTION crm.rfm_ne(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_ne(crm.rfm, crm.rfm) IS 'implementation of the <> operator of crm.rfm';
CREATE FUNCTION crm.rfm_lt(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_lt(crm.rfm, crm.rfm) IS 'implementation of the < operator of crm.rfm';
CREATE FUNCTION crm.rfm_le(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_le(crm.rfm, crm.rfm) IS 'implementation of the <= operator of crm.rfm';
CREATE FUNCTION crm.rfm_gt(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_gt(crm.rfm, crm.rfm) IS 'implementation of the > operator of crm.rfm';
CREATE FUNCTION crm.rfm_ge(crm.rfm, crm.rfm) RETURNS boolean
    AS 'MODULE_PATHNAME', 'rfm_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_ge(crm.rfm, crm.rfm) IS 'implementation of the >= operator of crm.rfm';
CREATE FUNCTION crm.rfm_cmp(crm.rfm, crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_cmp(crm.rfm, crm.rfm) IS 'btree comparison of crm.rfm: -1, 0 or 1';
CREATE FUNCTION crm.rfm_hash(crm.rfm) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_hash(crm.rfm) IS 'hash of crm.rfm for hash indexes and hash joins';
CREATE FUNCTION crm.rfm_hash_extended(crm.rfm, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'rfm_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION crm.rfm_hash_extended(crm.rfm, bigint) IS 'seeded 64-bit hash of crm.rfm';

CREATE OPERATOR crm.= (
    LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
COMMENT ON OPERATOR crm.= (crm.rfm, crm.rfm) IS 'equal RFM scores';
CREATE OPERATOR crm.<> (
    LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR crm.<> (crm.rfm, crm.rfm) IS 'different RFM scores';
CREATE OPERATOR crm.< (
    LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_lt,
    COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR crm.< (crm.rfm, crm.rfm) IS 'less than, comparing r, then f, then m';
CREATE OPERATOR crm.<= (
    LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_le,
    COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR crm.<= (crm.rfm, crm.rfm) IS 'less than or equal, comparing r, then f, then m';
CREATE OPERATOR crm.> (
    LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_gt,
    COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR crm.> (crm.rfm, crm.rfm) IS 'greater than, comparing r, then f, then m';
CREATE OPERATOR crm.>= (
    LEFTARG = crm.rfm, RIGHTARG = crm.rfm, PROCEDURE = crm.rfm_ge,
    COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR crm.>= (crm.rfm, crm.rfm) IS 'greater than or equal, comparing r, then f, then m';

CREATE OPERATOR CLASS crm.rfm_ops DEFAULT FOR TYPE crm.rfm USING btree AS
    OPERATOR 1 crm.< , OPERATOR 2 crm.<= , OPERATOR 3 crm.= ,
    OPERATOR 4 crm.>= , OPERATOR 5 crm.> ,
    FUNCTION 1 crm.rfm_cmp(crm.rfm, crm.rfm);
COMMENT ON OPERATOR CLASS crm.rfm_ops USING btree IS 'btree operator class of crm.rfm';
CREATE OPERATOR CLASS crm.rfm_hash_ops DEFAULT FOR TYPE crm.rfm USING hash AS
    OPERATOR 1 crm.= ,
    FUNCTION 1 crm.rfm_hash(crm.rfm),
    FUNCTION 2 crm.rfm_hash_extended(crm.rfm, bigint);
COMMENT ON OPERATOR CLASS crm.rfm_hash_ops USING hash IS 'hash operator class of crm.rfm';

-- Per-customer aggregate: first and last purchase, count and total spend.

CREATE TYPE crm.purchase_stats AS (
    first_purchase timestamptz,
    last_purchase  timestamptz,
    purchases      bigint,
    spend          numeric
);
COMMENT ON TYPE crm.purchase_stats IS 'result of crm.rfm_stats: first and last purchase, number of purchases, total spend';

CREATE TYPE crm.rfm_state;
CREATE FUNCTION crm.rfm_state_in(cstring) RETURNS crm.rfm_state
    AS 'MODULE_PATHNAME', 'rfm_state_in' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_state_in(cstring) IS 'text input of crm.rfm_state: (first,last,count,total)';
CREATE FUNCTION crm.rfm_state_out(crm.rfm_state) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_state_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_state_out(crm.rfm_state) IS 'text output of crm.rfm_state, times in ISO 8601 at UTC whatever DateStyle and TimeZone say';
CREATE FUNCTION crm.rfm_state_recv(internal) RETURNS crm.rfm_state
    AS 'MODULE_PATHNAME', 'rfm_state_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_state_recv(internal) IS 'binary input of crm.rfm_state';
CREATE FUNCTION crm.rfm_state_send(crm.rfm_state) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_state_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_state_send(crm.rfm_state) IS 'binary output of crm.rfm_state';
CREATE TYPE crm.rfm_state (
    INPUT = crm.rfm_state_in,
    OUTPUT = crm.rfm_state_out,
    RECEIVE = crm.rfm_state_recv,
    SEND = crm.rfm_state_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE crm.rfm_state IS 'partial state of crm.rfm_stats: (first purchase,last purchase,count,total); exact text and binary round trip, so partial aggregates can be combined anywhere';

CREATE FUNCTION crm.rfm_stats_trans(crm.rfm_state, timestamptz, numeric) RETURNS crm.rfm_state
    AS 'MODULE_PATHNAME', 'rfm_stats_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_stats_trans(crm.rfm_state, timestamptz, numeric) IS 'transition function of crm.rfm_stats';
CREATE FUNCTION crm.rfm_stats_combine(crm.rfm_state, crm.rfm_state) RETURNS crm.rfm_state
    AS 'MODULE_PATHNAME', 'rfm_stats_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_stats_combine(crm.rfm_state, crm.rfm_state) IS 'combine function of crm.rfm_stats';
CREATE FUNCTION crm.rfm_stats_final(crm.rfm_state) RETURNS crm.purchase_stats
    AS 'MODULE_PATHNAME', 'rfm_stats_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_stats_final(crm.rfm_state) IS 'final function of crm.rfm_stats';

CREATE AGGREGATE crm.rfm_stats(purchased_at timestamptz, amount numeric) (
    SFUNC = crm.rfm_stats_trans,
    STYPE = crm.rfm_state,
    FINALFUNC = crm.rfm_stats_final,
    COMBINEFUNC = crm.rfm_stats_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.rfm_stats(timestamptz, numeric) IS 'per-customer purchase figures: first and last purchase, number of purchases, total spend (rows with a NULL are skipped)';

-- Exact quantile breaks and scoring.

CREATE TYPE crm.rfm_cuts AS (
    customers bigint,
    recency   double precision[],
    frequency double precision[],
    monetary  double precision[]
);
COMMENT ON TYPE crm.rfm_cuts IS 'result of crm.rfm_breaks: number of customers and the 20/40/60/80% cut points of recency, frequency and monetary';

CREATE TYPE crm.rfm_sample;
CREATE FUNCTION crm.rfm_sample_in(cstring) RETURNS crm.rfm_sample
    AS 'MODULE_PATHNAME', 'rfm_sample_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_sample_in(cstring) IS 'text input of crm.rfm_sample: {(recency,frequency,monetary),...}';
CREATE FUNCTION crm.rfm_sample_out(crm.rfm_sample) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_sample_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_sample_out(crm.rfm_sample) IS 'text output of crm.rfm_sample';
CREATE FUNCTION crm.rfm_sample_recv(internal) RETURNS crm.rfm_sample
    AS 'MODULE_PATHNAME', 'rfm_sample_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_sample_recv(internal) IS 'binary input of crm.rfm_sample';
CREATE FUNCTION crm.rfm_sample_send(crm.rfm_sample) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_sample_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_sample_send(crm.rfm_sample) IS 'binary output of crm.rfm_sample';
CREATE TYPE crm.rfm_sample (
    INPUT = crm.rfm_sample_in,
    OUTPUT = crm.rfm_sample_out,
    RECEIVE = crm.rfm_sample_recv,
    SEND = crm.rfm_sample_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE crm.rfm_sample IS 'partial state of crm.rfm_breaks: the (recency,frequency,monetary) values seen; exact text and binary round trip';

CREATE FUNCTION crm.rfm_breaks_trans(crm.rfm_sample, double precision, double precision, double precision) RETURNS crm.rfm_sample
    AS 'MODULE_PATHNAME', 'rfm_breaks_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_breaks_trans(crm.rfm_sample, double precision, double precision, double precision) IS 'transition function of crm.rfm_breaks';
CREATE FUNCTION crm.rfm_breaks_combine(crm.rfm_sample, crm.rfm_sample) RETURNS crm.rfm_sample
    AS 'MODULE_PATHNAME', 'rfm_breaks_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_breaks_combine(crm.rfm_sample, crm.rfm_sample) IS 'combine function of crm.rfm_breaks';
CREATE FUNCTION crm.rfm_breaks_final(crm.rfm_sample) RETURNS crm.rfm_cuts
    AS 'MODULE_PATHNAME', 'rfm_breaks_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_breaks_final(crm.rfm_sample) IS 'final function of crm.rfm_breaks';

CREATE AGGREGATE crm.rfm_breaks(recency double precision, frequency double precision, monetary double precision) (
    SFUNC = crm.rfm_breaks_trans,
    STYPE = crm.rfm_sample,
    FINALFUNC = crm.rfm_breaks_final,
    COMBINEFUNC = crm.rfm_breaks_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.rfm_breaks(double precision, double precision, double precision) IS 'exact quintile cut points of recency (days), frequency and monetary over one row per customer: break k is the value at sorted position ceil(k*N/5); rows with a NULL are skipped';

CREATE FUNCTION crm.rfm_score(recency double precision, frequency double precision, monetary double precision, breaks crm.rfm_cuts) RETURNS crm.rfm
    AS 'MODULE_PATHNAME', 'rfm_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_score(double precision, double precision, double precision, crm.rfm_cuts) IS 'RFM score against breaks from crm.rfm_breaks: f and m = 1 + number of breaks below the value; r = 5 - number of breaks below the recency days (more recent scores higher)';

CREATE FUNCTION crm.rfm_quintile(value double precision, breaks double precision[], lower_is_better boolean DEFAULT false) RETURNS integer
    AS 'MODULE_PATHNAME', 'rfm_quintile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_quintile(double precision, double precision[], boolean) IS 'one score 1..5 of a value against four breaks: 1 + breaks below it, or 5 - breaks below it when lower is better';

-- Named segments: an editable map, first match (lowest priority) wins.

CREATE TABLE crm.rfm_segment_map (
    priority integer PRIMARY KEY,
    segment  text NOT NULL UNIQUE,
    r_min    smallint NOT NULL DEFAULT 1 CHECK (r_min BETWEEN 1 AND 5),
    r_max    smallint NOT NULL DEFAULT 5 CHECK (r_max BETWEEN 1 AND 5),
    f_min    smallint NOT NULL DEFAULT 1 CHECK (f_min BETWEEN 1 AND 5),
    f_max    smallint NOT NULL DEFAULT 5 CHECK (f_max BETWEEN 1 AND 5),
    m_min    smallint NOT NULL DEFAULT 1 CHECK (m_min BETWEEN 1 AND 5),
    m_max    smallint NOT NULL DEFAULT 5 CHECK (m_max BETWEEN 1 AND 5),
    action   text NOT NULL DEFAULT '',
    builtin  boolean NOT NULL DEFAULT false,
    CHECK (r_min <= r_max AND f_min <= f_max AND m_min <= m_max)
);
COMMENT ON TABLE crm.rfm_segment_map IS 'RFM segments: score ranges (inclusive) and a suggested action; a score gets the first segment, by priority, whose ranges contain it; edit freely';
COMMENT ON COLUMN crm.rfm_segment_map.priority IS 'order of matching: lower first';
COMMENT ON COLUMN crm.rfm_segment_map.segment IS 'segment name';
COMMENT ON COLUMN crm.rfm_segment_map.r_min IS 'lowest recency score of the segment';
COMMENT ON COLUMN crm.rfm_segment_map.r_max IS 'highest recency score of the segment';
COMMENT ON COLUMN crm.rfm_segment_map.f_min IS 'lowest frequency score of the segment';
COMMENT ON COLUMN crm.rfm_segment_map.f_max IS 'highest frequency score of the segment';
COMMENT ON COLUMN crm.rfm_segment_map.m_min IS 'lowest monetary score of the segment';
COMMENT ON COLUMN crm.rfm_segment_map.m_max IS 'highest monetary score of the segment';
COMMENT ON COLUMN crm.rfm_segment_map.action IS 'suggested action for customers in the segment';
INSERT INTO crm.rfm_segment_map (priority, segment, r_min, r_max, f_min, f_max, m_min, m_max, action) VALUES
    (10,  'Champions',           4, 5, 4, 5, 4, 5, 'Reward them: early access, loyalty perks, ask for reviews and referrals'),
    (20,  'Loyal Customers',     3, 5, 3, 5, 3, 5, 'Upsell higher-value products; invite to the loyalty programme'),
    (30,  'Can''t Lose Them',    1, 1, 4, 5, 4, 5, 'Win them back personally: call, renewals, newer products'),
    (40,  'At Risk',             1, 2, 3, 5, 3, 5, 'Send personalised reactivation offers; ask what went wrong'),
    (50,  'New Customers',       5, 5, 1, 1, 1, 5, 'Onboard: welcome series, help with the first use'),
    (60,  'Promising',           4, 4, 1, 1, 1, 5, 'Build awareness: recommendations, a second-purchase offer'),
    (70,  'Potential Loyalists', 4, 5, 2, 5, 1, 5, 'Offer membership and personalised recommendations'),
    (80,  'Need Attention',      3, 3, 2, 5, 1, 5, 'Limited-time offers based on past purchases'),
    (90,  'About to Sleep',      2, 3, 1, 2, 1, 5, 'Share popular products and discounts; reconnect'),
    (100, 'Hibernating',         2, 2, 1, 5, 1, 5, 'Recreate interest with relevant offers; do not over-spend'),
    (110, 'Lost',                1, 5, 1, 5, 1, 5, 'Revive with a broad campaign or let go');
UPDATE crm.rfm_segment_map SET builtin = true;
COMMENT ON COLUMN crm.rfm_segment_map.builtin IS 'true for the rows the extension ships; pg_dump keeps the others, and the shipped ones as they are now (see crm.config_upsert)';
CREATE TRIGGER rfm_segment_map_config_upsert BEFORE INSERT ON crm.rfm_segment_map
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('priority');
ALTER TABLE crm.rfm_segment_map ENABLE ALWAYS TRIGGER rfm_segment_map_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.rfm_segment_map', '');

CREATE FUNCTION crm.rfm_segment(score crm.rfm) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN (SELECT s.segment FROM crm.rfm_segment_map s
             WHERE crm.r(score) OPERATOR(pg_catalog.>=) s.r_min AND crm.r(score) OPERATOR(pg_catalog.<=) s.r_max
               AND crm.f(score) OPERATOR(pg_catalog.>=) s.f_min AND crm.f(score) OPERATOR(pg_catalog.<=) s.f_max
               AND crm.m(score) OPERATOR(pg_catalog.>=) s.m_min AND crm.m(score) OPERATOR(pg_catalog.<=) s.m_max
             ORDER BY s.priority LIMIT 1);
COMMENT ON FUNCTION crm.rfm_segment(crm.rfm) IS 'named segment of an RFM score from crm.rfm_segment_map (first match by priority), NULL when none matches';

CREATE FUNCTION crm.rfm_segment_action(score crm.rfm) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN (SELECT s.action FROM crm.rfm_segment_map s
             WHERE s.segment OPERATOR(pg_catalog.=) crm.rfm_segment(score));
COMMENT ON FUNCTION crm.rfm_segment_action(crm.rfm) IS 'suggested action for the segment of an RFM score';

-- Per-customer figures of a whole table in one aggregate state.

CREATE TYPE crm.rfm_table;
CREATE FUNCTION crm.rfm_table_in(cstring) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_table_in' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_table_in(cstring) IS 'text input of crm.rfm_table: {rows:(customer,purchases,last purchase,spend),...}';
CREATE FUNCTION crm.rfm_table_out(crm.rfm_table) RETURNS cstring
    AS 'MODULE_PATHNAME', 'rfm_table_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_table_out(crm.rfm_table) IS 'text output of crm.rfm_table, ordered by customer, times in ISO 8601 at UTC';
CREATE FUNCTION crm.rfm_table_recv(internal) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_table_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_table_recv(internal) IS 'binary input of crm.rfm_table';
CREATE FUNCTION crm.rfm_table_send(crm.rfm_table) RETURNS bytea
    AS 'MODULE_PATHNAME', 'rfm_table_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_table_send(crm.rfm_table) IS 'binary output of crm.rfm_table';
CREATE TYPE crm.rfm_table (
    INPUT = crm.rfm_table_in,
    OUTPUT = crm.rfm_table_out,
    RECEIVE = crm.rfm_table_recv,
    SEND = crm.rfm_table_send,
    INTERNALLENGTH = VARIABLE,
    ALIGNMENT = double,
    STORAGE = extended
);
COMMENT ON TYPE crm.rfm_table IS 'state of crm.rfm_collect: purchases, last purchase and exact spend of every customer of a table (a hash table while aggregating, the used entries only when stored or passed between processes); exact text and binary round trip';

CREATE FUNCTION crm.rfm_collect_trans(crm.rfm_table, bigint, timestamptz, numeric) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_collect_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_collect_trans(crm.rfm_table, bigint, timestamptz, numeric) IS 'transition function of crm.rfm_collect';
CREATE FUNCTION crm.rfm_collect_combine(crm.rfm_table, crm.rfm_table) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_collect_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_collect_combine(crm.rfm_table, crm.rfm_table) IS 'combine function of crm.rfm_collect';

CREATE FUNCTION crm.rfm_collect_final(crm.rfm_table) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_collect_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_collect_final(crm.rfm_table) IS 'final function of crm.rfm_collect: the table with its last batch of purchases moved in, as a flat value of its used entries';

CREATE AGGREGATE crm.rfm_collect(customer_id bigint, purchased_at timestamptz, amount numeric) (
    SFUNC = crm.rfm_collect_trans,
    STYPE = crm.rfm_table,
    FINALFUNC = crm.rfm_collect_final,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = crm.rfm_collect_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE crm.rfm_collect(bigint, timestamptz, numeric) IS 'purchases, last purchase and exact spend of every customer in one state (amounts: at most 8 decimals, below 10^20); rows with a NULL are skipped; used by crm.rfm_analyze';

CREATE FUNCTION crm.rfm_table_customers(crm.rfm_table)
    RETURNS TABLE (customer_id bigint, purchases bigint, last_purchase timestamptz, spend numeric)
    AS 'MODULE_PATHNAME', 'rfm_table_customers' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_table_customers(crm.rfm_table) IS 'the customers of a crm.rfm_table, ordered by id';

-- One call for a whole purchase table.

CREATE FUNCTION crm.rfm_analyze(
        as_of timestamptz DEFAULT now(),
        source regclass DEFAULT 'crm.purchase',
        customer_col name DEFAULT 'customer_id',
        time_col name DEFAULT 'purchased_at',
        amount_col name DEFAULT 'amount',
        period interval DEFAULT NULL)
    RETURNS TABLE (customer_id bigint, recency_days integer, frequency bigint, monetary numeric,
                   r integer, f integer, m integer, rfm crm.rfm, segment text)
    AS 'MODULE_PATHNAME', 'rfm_analyze' LANGUAGE C STABLE PARALLEL RESTRICTED ROWS 100000;
COMMENT ON FUNCTION crm.rfm_analyze(timestamptz, regclass, name, name, name, interval) IS 'RFM of every customer of a purchase table in one pass: recency (whole days since the last purchase up to as_of), frequency (rows), monetary (sum of amount), quintile scores, crm.rfm and segment; only purchases in (as_of - period, as_of] count; a plain table is read directly (by parallel workers sharing one hash table when it is large), any other source through one crm.rfm_collect query';

-- The stored result for crm.customer, and views for BI tools.

CREATE TABLE crm.customer_rfm_score (
    customer_id  bigint PRIMARY KEY,
    recency_days integer NOT NULL,
    frequency    bigint NOT NULL,
    monetary     numeric NOT NULL,
    r            smallint NOT NULL,
    f            smallint NOT NULL,
    m            smallint NOT NULL,
    rfm          crm.rfm NOT NULL,
    segment      text,
    as_of        timestamptz NOT NULL,
    period       interval
);
COMMENT ON TABLE crm.customer_rfm_score IS 'result of the last crm.refresh_rfm(): one row per customer with purchases';
COMMENT ON COLUMN crm.customer_rfm_score.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_rfm_score.recency_days IS 'whole days from the last purchase to as_of';
COMMENT ON COLUMN crm.customer_rfm_score.frequency IS 'number of purchases in the period';
COMMENT ON COLUMN crm.customer_rfm_score.monetary IS 'total spend in the period';
COMMENT ON COLUMN crm.customer_rfm_score.r IS 'recency score 1..5';
COMMENT ON COLUMN crm.customer_rfm_score.f IS 'frequency score 1..5';
COMMENT ON COLUMN crm.customer_rfm_score.m IS 'monetary score 1..5';
COMMENT ON COLUMN crm.customer_rfm_score.rfm IS 'the three scores';
COMMENT ON COLUMN crm.customer_rfm_score.segment IS 'named segment from crm.rfm_segment_map';
COMMENT ON COLUMN crm.customer_rfm_score.as_of IS 'the time the scores were computed for';
COMMENT ON COLUMN crm.customer_rfm_score.period IS 'the period counted (NULL: all history)';
SELECT pg_catalog.pg_extension_config_dump('crm.customer_rfm_score', '');

-- Stored scores of a customer that no longer exists (deleted, or merged into
-- another by crm.merge_customers) go with it, so that the summaries never
-- count a customer twice.  SECURITY DEFINER: whoever may delete a customer
-- may drop its scores, with or without privileges on the score table.
CREATE FUNCTION crm.forget_rfm_score() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM crm.customer_rfm_score WHERE customer_id = OLD.id;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION crm.forget_rfm_score() FROM PUBLIC;
COMMENT ON FUNCTION crm.forget_rfm_score() IS 'AFTER DELETE row trigger on crm.customer: deletes the stored RFM scores of the deleted (or merged) customer';
CREATE TRIGGER crm_forget_rfm_score AFTER DELETE ON crm.customer
    FOR EACH ROW EXECUTE FUNCTION crm.forget_rfm_score();
COMMENT ON TRIGGER crm_forget_rfm_score ON crm.customer IS 'a deleted customer''s stored RFM scores go with it (crm.forget_rfm_score)';

CREATE FUNCTION crm.refresh_rfm(as_of timestamptz DEFAULT now(), period interval DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE crm.customer_rfm_score IN EXCLUSIVE MODE;
    DELETE FROM crm.customer_rfm_score;
    INSERT INTO crm.customer_rfm_score
    SELECT a.customer_id, a.recency_days, a.frequency, a.monetary, a.r, a.f, a.m, a.rfm, a.segment,
           refresh_rfm.as_of, refresh_rfm.period
      FROM crm.rfm_analyze(refresh_rfm.as_of, 'crm.purchase', 'customer_id', 'purchased_at', 'amount',
                           refresh_rfm.period) a;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION crm.refresh_rfm(timestamptz, interval) IS 'recomputes crm.customer_rfm_score from crm.purchase with crm.rfm_analyze; returns the number of customers scored';

CREATE VIEW crm.customer_rfm AS
SELECT c.id AS customer_id, c.name, s.recency_days, s.frequency, s.monetary,
       s.r, s.f, s.m, s.rfm, s.segment, g.action, s.as_of
  FROM crm.customer c
  LEFT JOIN crm.customer_rfm_score s ON s.customer_id = c.id
  LEFT JOIN crm.rfm_segment_map g ON g.segment = s.segment;
COMMENT ON VIEW crm.customer_rfm IS 'every customer with the RFM figures of the last crm.refresh_rfm() (NULL for customers without purchases), segment and suggested action';
COMMENT ON COLUMN crm.customer_rfm.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_rfm.name IS 'customer name';
COMMENT ON COLUMN crm.customer_rfm.recency_days IS 'whole days from the last purchase to as_of (NULL without purchases)';
COMMENT ON COLUMN crm.customer_rfm.frequency IS 'purchases in the period';
COMMENT ON COLUMN crm.customer_rfm.monetary IS 'total spend in the period';
COMMENT ON COLUMN crm.customer_rfm.r IS 'recency score 1..5';
COMMENT ON COLUMN crm.customer_rfm.f IS 'frequency score 1..5';
COMMENT ON COLUMN crm.customer_rfm.m IS 'monetary score 1..5';
COMMENT ON COLUMN crm.customer_rfm.rfm IS 'the three scores';
COMMENT ON COLUMN crm.customer_rfm.segment IS 'named RFM segment';
COMMENT ON COLUMN crm.customer_rfm.action IS 'suggested action for the segment';
COMMENT ON COLUMN crm.customer_rfm.as_of IS 'time the scores were computed for';

CREATE VIEW crm.rfm_segment_summary AS
SELECT s.segment,
       count(*) AS customers,
       round(count(*) * 100.0 / sum(count(*)) OVER (), 2) AS customer_pct,
       sum(s.monetary) AS revenue,
       round(sum(s.monetary) * 100.0 / nullif(sum(sum(s.monetary)) OVER (), 0), 2) AS revenue_pct,
       round(avg(s.recency_days), 1) AS avg_recency_days,
       round(avg(s.frequency), 2) AS avg_frequency,
       round(avg(s.monetary), 2) AS avg_monetary,
       min(g.action) AS action
  FROM crm.customer_rfm_score s
  LEFT JOIN crm.rfm_segment_map g ON g.segment = s.segment
 GROUP BY s.segment, g.priority
 ORDER BY g.priority;
COMMENT ON VIEW crm.rfm_segment_summary IS 'per RFM segment of the last crm.refresh_rfm(): customers, share of customers and of revenue (percent), average recency, frequency and monetary, suggested action';
COMMENT ON COLUMN crm.rfm_segment_summary.segment IS 'named RFM segment';
COMMENT ON COLUMN crm.rfm_segment_summary.customers IS 'customers in the segment';
COMMENT ON COLUMN crm.rfm_segment_summary.customer_pct IS 'percent of scored customers';
COMMENT ON COLUMN crm.rfm_segment_summary.revenue IS 'their total spend';
COMMENT ON COLUMN crm.rfm_segment_summary.revenue_pct IS 'percent of all revenue';
COMMENT ON COLUMN crm.rfm_segment_summary.avg_recency_days IS 'average days since the last purchase';
COMMENT ON COLUMN crm.rfm_segment_summary.avg_frequency IS 'average purchases';
COMMENT ON COLUMN crm.rfm_segment_summary.avg_monetary IS 'average spend';
COMMENT ON COLUMN crm.rfm_segment_summary.action IS 'suggested action';
