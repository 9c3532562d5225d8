
-- ---------------------------------------------------------------------------
-- crm.phone: a telephone number in E.164, stored as an int8
-- ---------------------------------------------------------------------------

CREATE TYPE crm.phone;

CREATE FUNCTION crm.phone_in(cstring) RETURNS crm.phone
    AS 'MODULE_PATHNAME', 'phone_in' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.phone_out(crm.phone) RETURNS cstring
    AS 'MODULE_PATHNAME', 'phone_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.phone_recv(internal) RETURNS crm.phone
    AS 'MODULE_PATHNAME', 'phone_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.phone_send(crm.phone) RETURNS bytea
    AS 'MODULE_PATHNAME', 'phone_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.phone (
    INPUT = crm.phone_in,
    OUTPUT = crm.phone_out,
    RECEIVE = crm.phone_recv,
    SEND = crm.phone_send,
    INTERNALLENGTH = 8,
    PASSEDBYVALUE,
    ALIGNMENT = double,
    STORAGE = plain
);
COMMENT ON TYPE crm.phone IS 'telephone number: parsed from common written forms, validated by country calling code, stored and printed as E.164 (+8613800138000)';

-- The stored form is the E.164 digits as an int8, so int8's own functions compare and hash it.
CREATE FUNCTION crm.phone_eq(crm.phone, crm.phone) RETURNS boolean
    AS 'int8eq' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_ne(crm.phone, crm.phone) RETURNS boolean
    AS 'int8ne' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_lt(crm.phone, crm.phone) RETURNS boolean
    AS 'int8lt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_le(crm.phone, crm.phone) RETURNS boolean
    AS 'int8le' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_gt(crm.phone, crm.phone) RETURNS boolean
    AS 'int8gt' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_ge(crm.phone, crm.phone) RETURNS boolean
    AS 'int8ge' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_cmp(crm.phone, crm.phone) RETURNS integer
    AS 'btint8cmp' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_hash(crm.phone) RETURNS integer
    AS 'hashint8' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.phone_hash_extended(crm.phone, bigint) RETURNS bigint
    AS 'hashint8extended' LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR crm.= (
    LEFTARG = crm.phone, RIGHTARG = crm.phone, PROCEDURE = crm.phone_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR crm.<> (
    LEFTARG = crm.phone, RIGHTARG = crm.phone, PROCEDURE = crm.phone_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR crm.< (
    LEFTARG = crm.phone, RIGHTARG = crm.phone, PROCEDURE = crm.phone_lt,
    COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR crm.<= (
    LEFTARG = crm.phone, RIGHTARG = crm.phone, PROCEDURE = crm.phone_le,
    COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR crm.> (
    LEFTARG = crm.phone, RIGHTARG = crm.phone, PROCEDURE = crm.phone_gt,
    COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR crm.>= (
    LEFTARG = crm.phone, RIGHTARG = crm.phone, PROCEDURE = crm.phone_ge,
    COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS crm.phone_ops DEFAULT FOR TYPE crm.phone USING btree AS
    OPERATOR 1 crm.< , OPERATOR 2 crm.<= , OPERATOR 3 crm.= ,
    OPERATOR 4 crm.>= , OPERATOR 5 crm.> ,
    FUNCTION 1 crm.phone_cmp(crm.phone, crm.phone);
CREATE OPERATOR CLASS crm.phone_hash_ops DEFAULT FOR TYPE crm.phone USING hash AS
    OPERATOR 1 crm.= ,
    FUNCTION 1 crm.phone_hash(crm.phone),
    FUNCTION 2 crm.phone_hash_extended(crm.phone, bigint);

CREATE CAST (crm.phone AS text) WITH INOUT AS ASSIGNMENT;
CREATE CAST (text AS crm.phone) WITH INOUT AS ASSIGNMENT;
CREATE CAST (varchar AS crm.phone) WITH INOUT AS ASSIGNMENT;

CREATE FUNCTION crm.phone_country_code(crm.phone) RETURNS integer
    AS 'MODULE_PATHNAME', 'phone_country_code' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.phone_national(crm.phone) RETURNS text
    AS 'MODULE_PATHNAME', 'phone_national' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.phone_format(crm.phone, style text DEFAULT 'international') RETURNS text
    AS 'MODULE_PATHNAME', 'phone_format_style' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.phone_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'phone_is_valid' LANGUAGE C STABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION crm.phone_in(cstring) IS 'text input of crm.phone: parses to E.164, using crm.default_country for numbers without a country code';
COMMENT ON FUNCTION crm.phone_out(crm.phone) IS 'text output of crm.phone: E.164';
COMMENT ON FUNCTION crm.phone_recv(internal) IS 'binary input of crm.phone: the E.164 digits as int8, validated';
COMMENT ON FUNCTION crm.phone_send(crm.phone) IS 'binary output of crm.phone: the E.164 digits as int8';
COMMENT ON FUNCTION crm.phone_eq(crm.phone, crm.phone) IS 'equal';
COMMENT ON FUNCTION crm.phone_ne(crm.phone, crm.phone) IS 'not equal';
COMMENT ON FUNCTION crm.phone_lt(crm.phone, crm.phone) IS 'less than, by the numeric value of the E.164 digits';
COMMENT ON FUNCTION crm.phone_le(crm.phone, crm.phone) IS 'less than or equal, by the numeric value of the E.164 digits';
COMMENT ON FUNCTION crm.phone_gt(crm.phone, crm.phone) IS 'greater than, by the numeric value of the E.164 digits';
COMMENT ON FUNCTION crm.phone_ge(crm.phone, crm.phone) IS 'greater than or equal, by the numeric value of the E.164 digits';
COMMENT ON FUNCTION crm.phone_cmp(crm.phone, crm.phone) IS 'btree support: -1, 0 or 1';
COMMENT ON FUNCTION crm.phone_hash(crm.phone) IS 'hash support';
COMMENT ON FUNCTION crm.phone_hash_extended(crm.phone, bigint) IS 'hash support, 64-bit with seed';
COMMENT ON FUNCTION crm.phone_country_code(crm.phone) IS 'the country calling code, as in 86';
COMMENT ON FUNCTION crm.phone_national(crm.phone) IS 'the national significant number, as in 13800138000';
COMMENT ON FUNCTION crm.phone_format(crm.phone, text) IS 'the number formatted as e164, international (+86 138 0013 8000) or national (138 0013 8000)';
COMMENT ON FUNCTION crm.phone_is_valid(text) IS 'true if the text parses as a crm.phone under the current crm.default_country, without raising an error';
COMMENT ON OPERATOR crm.= (crm.phone, crm.phone) IS 'equal';
COMMENT ON OPERATOR crm.<> (crm.phone, crm.phone) IS 'not equal';
COMMENT ON OPERATOR crm.< (crm.phone, crm.phone) IS 'less than';
COMMENT ON OPERATOR crm.<= (crm.phone, crm.phone) IS 'less than or equal';
COMMENT ON OPERATOR crm.> (crm.phone, crm.phone) IS 'greater than';
COMMENT ON OPERATOR crm.>= (crm.phone, crm.phone) IS 'greater than or equal';

