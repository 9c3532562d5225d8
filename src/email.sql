
-- ---------------------------------------------------------------------------
-- crm.email: a validated email address, compared case-insensitively
-- ---------------------------------------------------------------------------

CREATE TYPE crm.email;

CREATE FUNCTION crm.email_in(cstring) RETURNS crm.email
    AS 'MODULE_PATHNAME', 'email_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.email_out(crm.email) RETURNS cstring
    AS 'MODULE_PATHNAME', 'email_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.email_recv(internal) RETURNS crm.email
    AS 'MODULE_PATHNAME', 'email_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.email_send(crm.email) RETURNS bytea
    AS 'MODULE_PATHNAME', 'email_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE crm.email (
    INPUT = crm.email_in,
    OUTPUT = crm.email_out,
    RECEIVE = crm.email_recv,
    SEND = crm.email_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE crm.email IS 'email address: validated (RFC 5321/5322 dot-atom subset), stored and printed in lower case, compared case-insensitively';

CREATE FUNCTION crm.email_eq(crm.email, crm.email) RETURNS boolean
    AS 'MODULE_PATHNAME', 'email_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ne(crm.email, crm.email) RETURNS boolean
    AS 'MODULE_PATHNAME', 'email_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_lt(crm.email, crm.email) RETURNS boolean
    AS 'MODULE_PATHNAME', 'email_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_le(crm.email, crm.email) RETURNS boolean
    AS 'MODULE_PATHNAME', 'email_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_gt(crm.email, crm.email) RETURNS boolean
    AS 'MODULE_PATHNAME', 'email_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_ge(crm.email, crm.email) RETURNS boolean
    AS 'MODULE_PATHNAME', 'email_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_cmp(crm.email, crm.email) RETURNS integer
    AS 'MODULE_PATHNAME', 'email_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_hash(crm.email) RETURNS integer
    AS 'MODULE_PATHNAME', 'email_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.email_hash_extended(crm.email, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'email_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

CREATE OPERATOR crm.= (
    LEFTARG = crm.email, RIGHTARG = crm.email, PROCEDURE = crm.email_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR crm.<> (
    LEFTARG = crm.email, RIGHTARG = crm.email, PROCEDURE = crm.email_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR crm.< (
    LEFTARG = crm.email, RIGHTARG = crm.email, PROCEDURE = crm.email_lt,
    COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR crm.<= (
    LEFTARG = crm.email, RIGHTARG = crm.email, PROCEDURE = crm.email_le,
    COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR crm.> (
    LEFTARG = crm.email, RIGHTARG = crm.email, PROCEDURE = crm.email_gt,
    COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR crm.>= (
    LEFTARG = crm.email, RIGHTARG = crm.email, PROCEDURE = crm.email_ge,
    COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);

CREATE OPERATOR CLASS crm.email_ops DEFAULT FOR TYPE crm.email USING btree AS
    OPERATOR 1 crm.< , OPERATOR 2 crm.<= , OPERATOR 3 crm.= ,
    OPERATOR 4 crm.>= , OPERATOR 5 crm.> ,
    FUNCTION 1 crm.email_cmp(crm.email, crm.email);
CREATE OPERATOR CLASS crm.email_hash_ops DEFAULT FOR TYPE crm.email USING hash AS
    OPERATOR 1 crm.= ,
    FUNCTION 1 crm.email_hash(crm.email),
    FUNCTION 2 crm.email_hash_extended(crm.email, bigint);

-- The stored form is the normalised text, so casting to text needs no function.
-- The cast is not implicit: an implicit one would let "=" fall back to the
-- case-sensitive text operator whenever schema crm is not on the search_path.
CREATE CAST (crm.email AS text) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE CAST (text AS crm.email) WITH INOUT AS ASSIGNMENT;
CREATE CAST (crm.email AS varchar) WITHOUT FUNCTION AS ASSIGNMENT;
CREATE CAST (varchar AS crm.email) WITH INOUT AS ASSIGNMENT;

CREATE FUNCTION crm.email_domain(crm.email) RETURNS text
    AS 'MODULE_PATHNAME', 'email_domain' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.email_local(crm.email) RETURNS text
    AS 'MODULE_PATHNAME', 'email_local' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.email_is_valid(text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'email_is_valid' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

COMMENT ON FUNCTION crm.email_in(cstring) IS 'text input of crm.email: validates and normalises to lower case';
COMMENT ON FUNCTION crm.email_out(crm.email) IS 'text output of crm.email';
COMMENT ON FUNCTION crm.email_recv(internal) IS 'binary input of crm.email: validated like the text input';
COMMENT ON FUNCTION crm.email_send(crm.email) IS 'binary output of crm.email';
COMMENT ON FUNCTION crm.email_eq(crm.email, crm.email) IS 'equal, ignoring case';
COMMENT ON FUNCTION crm.email_ne(crm.email, crm.email) IS 'not equal, ignoring case';
COMMENT ON FUNCTION crm.email_lt(crm.email, crm.email) IS 'less than, in byte order of the lower-case address';
COMMENT ON FUNCTION crm.email_le(crm.email, crm.email) IS 'less than or equal, in byte order of the lower-case address';
COMMENT ON FUNCTION crm.email_gt(crm.email, crm.email) IS 'greater than, in byte order of the lower-case address';
COMMENT ON FUNCTION crm.email_ge(crm.email, crm.email) IS 'greater than or equal, in byte order of the lower-case address';
COMMENT ON FUNCTION crm.email_cmp(crm.email, crm.email) IS 'btree support: -1, 0 or 1';
COMMENT ON FUNCTION crm.email_hash(crm.email) IS 'hash support';
COMMENT ON FUNCTION crm.email_hash_extended(crm.email, bigint) IS 'hash support, 64-bit with seed';
COMMENT ON FUNCTION crm.email_domain(crm.email) IS 'the domain after the @, in lower case';
COMMENT ON FUNCTION crm.email_local(crm.email) IS 'the local part before the @, in lower case';
COMMENT ON FUNCTION crm.email_is_valid(text) IS 'true if the text is a valid crm.email, without raising an error';
COMMENT ON OPERATOR crm.= (crm.email, crm.email) IS 'equal, ignoring case';
COMMENT ON OPERATOR crm.<> (crm.email, crm.email) IS 'not equal, ignoring case';
COMMENT ON OPERATOR crm.< (crm.email, crm.email) IS 'less than';
COMMENT ON OPERATOR crm.<= (crm.email, crm.email) IS 'less than or equal';
COMMENT ON OPERATOR crm.> (crm.email, crm.email) IS 'greater than';
COMMENT ON OPERATOR crm.>= (crm.email, crm.email) IS 'greater than or equal';
