-- crm: customer relationship management inside PostgreSQL.
-- This file is assembled by make from src/*.sql; edit those instead.

\echo Use "CREATE EXTENSION crm" to load this file. \quit

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


-- ---------------------------------------------------------------------------
-- String similarity for duplicate detection
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.jaro_winkler(text, text) RETURNS double precision
    AS 'MODULE_PATHNAME', 'jaro_winkler' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.jaro_winkler(text, text) IS 'Jaro-Winkler similarity of two strings, by character: 1 when equal, 0 when nothing in common';

CREATE FUNCTION crm.normalize_name(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.lower(pg_catalog.regexp_replace(pg_catalog.btrim($1), '\s+', ' ', 'g'));
COMMENT ON FUNCTION crm.normalize_name(text) IS 'a name prepared for comparison: trimmed, inner whitespace collapsed, lower case';

-- ---------------------------------------------------------------------------
-- Core schema: customers, their identities, purchases and interactions
-- ---------------------------------------------------------------------------

-- Configuration tables ship default rows (builtin = true) and are dumped whole.
-- On restore, CREATE EXTENSION inserts the defaults again before the dumped
-- rows arrive; this trigger turns the insert of a row whose key matches a
-- shipped row into an update of that row, so edits to shipped rows survive a
-- pg_dump/pg_restore round trip.  Its arguments name the key columns.
CREATE FUNCTION crm.config_upsert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cond text;
    sets text;
    hit  boolean;
BEGIN
    SELECT string_agg(format('%1$I IS NOT DISTINCT FROM ($1).%1$I', k), ' AND ')
      INTO cond FROM unnest(TG_ARGV) AS k;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %s AND builtin)',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME, cond)
        INTO hit USING NEW;
    IF NOT hit THEN
        RETURN NEW;
    END IF;
    SELECT string_agg(format('%1$I = ($1).%1$I', a.attname), ', ' ORDER BY a.attnum)
      INTO sets
      FROM pg_attribute a
     WHERE a.attrelid = TG_RELID AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attgenerated = '' AND a.attidentity = '' AND a.attname <> ALL (TG_ARGV);
    EXECUTE format('UPDATE %I.%I SET %s WHERE %s AND builtin', TG_TABLE_SCHEMA, TG_TABLE_NAME, sets, cond)
        USING NEW;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.config_upsert() IS 'trigger for configuration tables: inserting a row whose key (the trigger arguments) matches a shipped row updates that row instead, so pg_restore keeps edits to shipped rows';

CREATE TABLE crm.channel (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
    description text NOT NULL,
    builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.channel IS 'sales, contact and identity channels (store, online, app...); add your own rows';
COMMENT ON COLUMN crm.channel.code IS 'short lower-case code used by the other tables';
COMMENT ON COLUMN crm.channel.description IS 'what the channel is';
COMMENT ON COLUMN crm.channel.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.channel (code, description, builtin) VALUES
    ('store',        'physical store, point of sale', true),
    ('online',       'web shop', true),
    ('app',          'mobile app', true),
    ('mini_program', 'mini-program inside a messaging or social app', true),
    ('phone',        'telephone orders and calls', true),
    ('email',        'email', true),
    ('social',       'social media account', true),
    ('store_card',   'store loyalty card', true),
    ('agent',        'sales agent', true),
    ('distributor',  'distributor or franchisee', true);
CREATE TRIGGER channel_config_upsert BEFORE INSERT ON crm.channel
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('code');
ALTER TABLE crm.channel ENABLE ALWAYS TRIGGER channel_config_upsert;  -- also during a restore in replica mode

CREATE TABLE crm.customer (
    id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (btrim(name) <> ''),
    gender        text CHECK (gender IN ('female', 'male', 'other', 'unknown')),
    birth_date    date CHECK (birth_date >= DATE '1900-01-01'),
    occupation    text,
    email         crm.email,
    phone         crm.phone,
    address       text,
    region        text,
    city          text,
    postcode      text,
    income_band   text,
    education     text,
    family_status text,
    owner         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_email_idx ON crm.customer (email);
CREATE INDEX customer_phone_idx ON crm.customer (phone);
CREATE INDEX customer_city_idx ON crm.customer (city);
CREATE INDEX customer_birth_date_idx ON crm.customer (birth_date);
CREATE INDEX customer_owner_idx ON crm.customer (owner);
COMMENT ON TABLE crm.customer IS 'one row per customer: basic data, contact and the staff member responsible';
COMMENT ON COLUMN crm.customer.id IS 'customer id, used by every other table';
COMMENT ON COLUMN crm.customer.name IS 'full name as the customer gives it';
COMMENT ON COLUMN crm.customer.gender IS 'female, male, other or unknown';
COMMENT ON COLUMN crm.customer.birth_date IS 'date of birth (age is derived from it)';
COMMENT ON COLUMN crm.customer.occupation IS 'occupation';
COMMENT ON COLUMN crm.customer.email IS 'email address, validated and lower case';
COMMENT ON COLUMN crm.customer.phone IS 'telephone number in E.164';
COMMENT ON COLUMN crm.customer.address IS 'postal address';
COMMENT ON COLUMN crm.customer.region IS 'region or province';
COMMENT ON COLUMN crm.customer.city IS 'city';
COMMENT ON COLUMN crm.customer.postcode IS 'postal code';
COMMENT ON COLUMN crm.customer.income_band IS 'income band, as the business defines them';
COMMENT ON COLUMN crm.customer.education IS 'education level';
COMMENT ON COLUMN crm.customer.family_status IS 'family status, where collected';
COMMENT ON COLUMN crm.customer.owner IS 'name of the staff role responsible for this customer';
COMMENT ON COLUMN crm.customer.created_at IS 'when the customer was first recorded';
COMMENT ON COLUMN crm.customer.updated_at IS 'when the row last changed (maintained by trigger)';

CREATE FUNCTION crm.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.touch_updated_at() IS 'trigger: sets updated_at to the transaction time on every update';
CREATE TRIGGER customer_touch BEFORE UPDATE ON crm.customer
    FOR EACH ROW EXECUTE FUNCTION crm.touch_updated_at();

CREATE TABLE crm.customer_identity (
    channel     text NOT NULL REFERENCES crm.channel (code) ON UPDATE CASCADE,
    external_id text NOT NULL CHECK (btrim(external_id) <> ''),
    customer_id bigint NOT NULL REFERENCES crm.customer (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, external_id)
);
CREATE INDEX customer_identity_customer_idx ON crm.customer_identity (customer_id);
COMMENT ON TABLE crm.customer_identity IS 'external ids (shop account, app user, store card, social account) that resolve to one customer; unique per channel';
COMMENT ON COLUMN crm.customer_identity.channel IS 'channel the id belongs to';
COMMENT ON COLUMN crm.customer_identity.external_id IS 'the id in that channel';
COMMENT ON COLUMN crm.customer_identity.customer_id IS 'the customer it resolves to';
COMMENT ON COLUMN crm.customer_identity.created_at IS 'when the id was linked';

CREATE TABLE crm.purchase (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES crm.customer (id),
    purchased_at timestamptz NOT NULL,
    channel      text NOT NULL REFERENCES crm.channel (code) ON UPDATE CASCADE,
    product      text NOT NULL,
    quantity     integer NOT NULL DEFAULT 1 CHECK (quantity > 0),
    amount       numeric(14, 2) NOT NULL CHECK (amount >= 0),
    store        text
);
CREATE INDEX purchase_customer_idx ON crm.purchase (customer_id, purchased_at);
CREATE INDEX purchase_time_idx ON crm.purchase (purchased_at);
COMMENT ON TABLE crm.purchase IS 'purchase records: who bought what, when, through which channel, for how much';
COMMENT ON COLUMN crm.purchase.id IS 'purchase id';
COMMENT ON COLUMN crm.purchase.customer_id IS 'the customer';
COMMENT ON COLUMN crm.purchase.purchased_at IS 'time of purchase';
COMMENT ON COLUMN crm.purchase.channel IS 'channel of the sale (store, online, app, mini_program, phone...)';
COMMENT ON COLUMN crm.purchase.product IS 'product name or code';
COMMENT ON COLUMN crm.purchase.quantity IS 'number of items';
COMMENT ON COLUMN crm.purchase.amount IS 'amount paid, exact to the cent';
COMMENT ON COLUMN crm.purchase.store IS 'store or outlet, where there is one';

CREATE TABLE crm.interaction (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customer (id),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    channel     text NOT NULL REFERENCES crm.channel (code) ON UPDATE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('inquiry', 'complaint', 'suggestion', 'visit', 'call', 'message', 'email', 'survey', 'other')),
    content     text,
    staff       text
);
CREATE INDEX interaction_customer_idx ON crm.interaction (customer_id, occurred_at);
COMMENT ON TABLE crm.interaction IS 'every contact with a customer: inquiries, complaints, suggestions, visits, calls, messages';
COMMENT ON COLUMN crm.interaction.id IS 'interaction id';
COMMENT ON COLUMN crm.interaction.customer_id IS 'the customer';
COMMENT ON COLUMN crm.interaction.occurred_at IS 'when it happened';
COMMENT ON COLUMN crm.interaction.channel IS 'channel it came through';
COMMENT ON COLUMN crm.interaction.kind IS 'inquiry, complaint, suggestion, visit, call, message, email, survey or other';
COMMENT ON COLUMN crm.interaction.content IS 'what was said or done';
COMMENT ON COLUMN crm.interaction.staff IS 'staff member who handled it';

CREATE TABLE crm.customer_merge (
    id         bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kept_id    bigint NOT NULL,
    merged_id  bigint NOT NULL,
    merged_at  timestamptz NOT NULL DEFAULT now(),
    merged_by  text NOT NULL DEFAULT current_user,
    moved      jsonb NOT NULL,
    filled     text[] NOT NULL,
    merged_row jsonb NOT NULL
);
CREATE INDEX customer_merge_kept_idx ON crm.customer_merge (kept_id);
COMMENT ON TABLE crm.customer_merge IS 'log of crm.merge_customers: who merged which customer into which, when, and what moved';
COMMENT ON COLUMN crm.customer_merge.id IS 'merge id';
COMMENT ON COLUMN crm.customer_merge.kept_id IS 'the customer that was kept';
COMMENT ON COLUMN crm.customer_merge.merged_id IS 'the duplicate that was merged into it and deleted';
COMMENT ON COLUMN crm.customer_merge.merged_at IS 'when';
COMMENT ON COLUMN crm.customer_merge.merged_by IS 'the database role that merged';
COMMENT ON COLUMN crm.customer_merge.moved IS 'rows moved, per referencing table and column';
COMMENT ON COLUMN crm.customer_merge.filled IS 'columns of the kept customer filled from the duplicate';
COMMENT ON COLUMN crm.customer_merge.merged_row IS 'the duplicate''s row as it was before the merge';

-- pg_dump keeps the data of these tables (and the state of their identity sequences).
SELECT pg_catalog.pg_extension_config_dump('crm.channel', '');
SELECT pg_catalog.pg_extension_config_dump('crm.customer', '');
SELECT pg_catalog.pg_extension_config_dump('crm.customer_identity', '');
SELECT pg_catalog.pg_extension_config_dump('crm.purchase', '');
SELECT pg_catalog.pg_extension_config_dump('crm.interaction', '');
SELECT pg_catalog.pg_extension_config_dump('crm.customer_merge', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.customer', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.purchase', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.interaction', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.customer_merge', 'id'), '');

-- ---------------------------------------------------------------------------
-- Identity resolution, duplicate detection and merging
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.resolve_customer(channel text, external_id text) RETURNS bigint
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    RETURN (SELECT i.customer_id FROM crm.customer_identity i
             WHERE i.channel OPERATOR(pg_catalog.=) $1
               AND i.external_id OPERATOR(pg_catalog.=) $2);
COMMENT ON FUNCTION crm.resolve_customer(text, text) IS 'the customer id an external id of a channel belongs to, or NULL when it is unknown';

CREATE FUNCTION crm.find_duplicates(threshold double precision DEFAULT 0.9)
    RETURNS TABLE (customer_a bigint, customer_b bigint, score double precision,
                   name_similarity double precision, reasons text[])
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF threshold IS NULL OR threshold < 0 OR threshold > 1 THEN
        RAISE EXCEPTION 'threshold must be between 0 and 1, not %', threshold
            USING ERRCODE = '22023',
                  DETAIL = 'The threshold is the smallest name similarity (Jaro-Winkler) that makes two customers a candidate pair.',
                  HINT = 'Use a value such as 0.9.';
    END IF;
    RETURN QUERY
    WITH k AS MATERIALIZED (
        SELECT c.id, n.nname,
               left(n.nname, 3) || '|' || right(n.nname, 3) AS ka,   -- a change in the middle keeps this
               right(n.nname, 6) AS kb,                              -- a change before the last six letters keeps this
               left(n.nname, 6) AS kc,                               -- a change after the first six letters keeps this
               c.email, c.phone, c.birth_date, lower(btrim(c.city)) AS ncity
          FROM crm.customer c, LATERAL (SELECT crm.normalize_name(c.name) AS nname) n
    ),
    pairs AS (
        -- Blocking: customers are compared only when they share a phone, an
        -- email, a birth date, or a city and one of three name keys, one of
        -- which survives any one-letter change, insertion, deletion or swap
        -- in a name of more than six letters.  Each arm leaves out
        -- the pairs an earlier arm finds, so every pair is scored once.
        SELECT a.id AS ida, b.id AS idb, crm.jaro_winkler(a.nname, b.nname) AS sim
          FROM k a JOIN k b ON a.phone OPERATOR(crm.=) b.phone AND a.id < b.id
        UNION ALL
        SELECT a.id, b.id, crm.jaro_winkler(a.nname, b.nname)
          FROM k a JOIN k b ON a.email OPERATOR(crm.=) b.email AND a.id < b.id
         WHERE a.phone IS NULL OR b.phone IS NULL OR a.phone OPERATOR(crm.<>) b.phone
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.ncity = b.ncity AND a.ka = b.ka AND a.id < b.id,
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.ncity = b.ncity AND a.kb = b.kb AND a.ka <> b.ka AND a.id < b.id,
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.ncity = b.ncity AND a.kc = b.kc AND a.ka <> b.ka AND a.kb <> b.kb AND a.id < b.id,
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
        UNION ALL
        SELECT a.id, b.id, x.sim
          FROM k a JOIN k b ON a.birth_date = b.birth_date AND a.id < b.id
               AND (a.ncity IS DISTINCT FROM b.ncity OR (a.ka <> b.ka AND a.kb <> b.kb AND a.kc <> b.kc)),
               LATERAL (SELECT crm.jaro_winkler(a.nname, b.nname) AS sim) x
         WHERE x.sim >= threshold
    ),
    scored AS (
        SELECT p.ida, p.idb, max(p.sim) AS sim,
               coalesce(bool_or(a.phone OPERATOR(crm.=) b.phone), false) AS same_phone,
               coalesce(bool_or(a.email OPERATOR(crm.=) b.email), false) AS same_email,
               coalesce(bool_or(a.ncity = b.ncity), false) AS same_city,
               coalesce(bool_or(a.birth_date = b.birth_date), false) AS same_birth,
               coalesce(bool_or(a.birth_date <> b.birth_date), false) AS birth_conflict
          FROM pairs p
          JOIN k a ON a.id = p.ida
          JOIN k b ON b.id = p.idb
         GROUP BY p.ida, p.idb
    )
    SELECT s.ida, s.idb,
           round((0.40 * s.sim + 0.25 * s.same_phone::int + 0.20 * s.same_email::int
                  + 0.10 * s.same_birth::int + 0.05 * s.same_city::int)::numeric, 4)::double precision,
           round(s.sim::numeric, 4)::double precision,
           array_remove(ARRAY[
               CASE WHEN s.same_phone THEN 'same phone' END,
               CASE WHEN s.same_email THEN 'same email' END,
               CASE WHEN s.sim >= threshold THEN 'similar name' END,
               CASE WHEN s.same_city THEN 'same city' END,
               CASE WHEN s.same_birth THEN 'same birth date' END], NULL)
      FROM scored s
     WHERE s.same_phone OR s.same_email
        OR (s.sim >= threshold AND (s.same_city OR s.same_birth) AND NOT s.birth_conflict)
     ORDER BY 3 DESC, 4 DESC, 1, 2;
END
$$;
COMMENT ON FUNCTION crm.find_duplicates(double precision) IS 'candidate pairs of customers that are probably the same person: same phone or email, or a name similarity (Jaro-Winkler) of at least threshold with the same city or birth date and no conflicting birth date; score = 0.40 name similarity + 0.25 same phone + 0.20 same email + 0.10 same birth date + 0.05 same city';

CREATE FUNCTION crm.merge_customers(keep bigint, duplicate bigint) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    fk       record;
    moved    jsonb := '{}';
    filled   text[] := '{}';
    n        bigint;
    col      record;
    dup_row  jsonb;
    sets     text := '';
    locked   int;
BEGIN
    IF keep IS NULL OR duplicate IS NULL THEN
        RAISE EXCEPTION 'customer ids to merge must not be NULL'
            USING ERRCODE = '22004',
                  DETAIL = format('keep is %s and duplicate is %s.', coalesce(keep::text, 'NULL'), coalesce(duplicate::text, 'NULL')),
                  HINT = 'Pass the id of the customer to keep and the id of its duplicate.';
    END IF;
    IF keep = duplicate THEN
        RAISE EXCEPTION 'cannot merge customer % with itself', keep
            USING ERRCODE = '22023',
                  DETAIL = 'The customer to keep and the duplicate are the same row.',
                  HINT = 'Pass two different customer ids; crm.find_duplicates() lists candidate pairs.';
    END IF;
    -- Lock both rows in id order, so concurrent merges cannot deadlock.
    SELECT count(*) INTO locked FROM (
        SELECT 1 FROM crm.customer WHERE id IN (keep, duplicate) ORDER BY id FOR UPDATE) l;
    IF locked < 2 THEN
        RAISE EXCEPTION 'customer % does not exist',
              CASE WHEN NOT EXISTS (SELECT 1 FROM crm.customer WHERE id = keep) THEN keep ELSE duplicate END
            USING ERRCODE = 'P0002',
                  DETAIL = 'Both customers must exist to be merged.',
                  HINT = 'Check the ids; a customer merged earlier has been deleted (see crm.customer_merge).';
    END IF;

    SELECT to_jsonb(d) INTO dup_row FROM crm.customer d WHERE d.id = duplicate;

    -- Move every row that references the duplicate, in every table with a
    -- foreign key to crm.customer (ours, later modules' and the user's).
    FOR fk IN
        SELECT c.conrelid::regclass AS tbl, a.attname AS col
          FROM pg_constraint c
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.confrelid = 'crm.customer'::regclass
           AND array_length(c.conkey, 1) = 1
         ORDER BY c.conrelid::regclass::text, a.attname
    LOOP
        EXECUTE format('UPDATE %s SET %I = $1 WHERE %I = $2', fk.tbl, fk.col, fk.col)
            USING keep, duplicate;
        GET DIAGNOSTICS n = ROW_COUNT;
        moved := moved || jsonb_build_object(fk.tbl::text || '.' || fk.col, n);
    END LOOP;

    -- Fill the kept customer's empty fields from the duplicate.
    FOR col IN
        SELECT a.attname, a.atttypid
          FROM pg_attribute a
         WHERE a.attrelid = 'crm.customer'::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname NOT IN ('id', 'created_at', 'updated_at')
         ORDER BY a.attnum
    LOOP
        IF (dup_row -> col.attname) IS NOT NULL AND jsonb_typeof(dup_row -> col.attname) <> 'null' THEN
            EXECUTE format('SELECT count(*) FROM crm.customer WHERE id = $1 AND (%1$I IS NULL%2$s)',
                           col.attname,
                           CASE WHEN col.atttypid = 'text'::regtype
                                THEN format(' OR btrim(%I) = %L', col.attname, '') ELSE '' END)
                INTO n USING keep;
            IF n > 0 THEN
                filled := filled || col.attname::text;
                sets := sets || format('%1$I = d.%1$I, ', col.attname);
            END IF;
        END IF;
    END LOOP;
    EXECUTE format('UPDATE crm.customer k SET %s created_at = least(k.created_at, d.created_at)
                      FROM crm.customer d WHERE k.id = $1 AND d.id = $2', sets)
        USING keep, duplicate;

    INSERT INTO crm.customer_merge (kept_id, merged_id, moved, filled, merged_row)
    VALUES (keep, duplicate, moved, filled, dup_row);
    DELETE FROM crm.customer WHERE id = duplicate;

    RETURN jsonb_build_object('kept', keep, 'merged', duplicate, 'moved', moved, 'filled', to_jsonb(filled));
END
$$;
COMMENT ON FUNCTION crm.merge_customers(bigint, bigint) IS 'merges duplicate into keep: moves every referencing row (purchases, interactions, identities and any table with a foreign key to crm.customer), fills keep''s empty fields, logs the merge in crm.customer_merge and deletes the duplicate, all in one transaction';

-- ---------------------------------------------------------------------------
-- crm.tagset: a sorted, de-duplicated set of customer labels, with GIN
-- ---------------------------------------------------------------------------

CREATE TYPE crm.tagset;

CREATE FUNCTION crm.tagset_in(cstring) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_out(crm.tagset) RETURNS cstring
    AS 'MODULE_PATHNAME', 'tagset_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_recv(internal) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_send(crm.tagset) RETURNS bytea
    AS 'MODULE_PATHNAME', 'tagset_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_typanalyze(internal) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_typanalyze' LANGUAGE C STRICT PARALLEL SAFE;

-- Small sets are stored with a one-byte varlena header (packed), like text.
CREATE TYPE crm.tagset (
    INPUT = crm.tagset_in,
    OUTPUT = crm.tagset_out,
    RECEIVE = crm.tagset_recv,
    SEND = crm.tagset_send,
    ANALYZE = crm.tagset_typanalyze,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);
COMMENT ON TYPE crm.tagset IS 'set of customer labels such as vip or region:north: trimmed, lower case, sorted, without duplicates; text form {vip,region:north} (one label may be written without braces)';

-- Comparison, hashing and set predicates.
CREATE FUNCTION crm.tagset_eq(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_ne(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_lt(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_le(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_gt(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_ge(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_cmp(crm.tagset, crm.tagset) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_hash(crm.tagset) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_hash' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_hash_extended(crm.tagset, bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'tagset_hash_extended' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_contains(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_contains' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_contained(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_contained' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_overlap(crm.tagset, crm.tagset) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_overlap' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION crm.tagset_has_label(crm.tagset, text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_has_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Set algebra.
CREATE FUNCTION crm.tagset_union(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_union' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_intersect(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_intersect' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_minus(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_minus' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_add_label(crm.tagset, text) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_add_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_remove_label(crm.tagset, text) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_remove_label' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Restriction estimators of the set operators: from the label frequencies
-- ANALYZE stores (pg_stats.most_common_elems), labels taken as independent.
CREATE FUNCTION crm.tagset_contains_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_contains_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_contained_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_contained_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_overlap_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_overlap_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_has_sel(internal, oid, internal, integer) RETURNS float8
    AS 'MODULE_PATHNAME', 'tagset_has_sel' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- Operators.
CREATE OPERATOR crm.= (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_eq,
    COMMUTATOR = OPERATOR(crm.=), NEGATOR = OPERATOR(crm.<>),
    RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR crm.<> (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_ne,
    COMMUTATOR = OPERATOR(crm.<>), NEGATOR = OPERATOR(crm.=),
    RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR crm.< (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_lt,
    COMMUTATOR = OPERATOR(crm.>), NEGATOR = OPERATOR(crm.>=),
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR crm.<= (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_le,
    COMMUTATOR = OPERATOR(crm.>=), NEGATOR = OPERATOR(crm.>),
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR crm.> (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_gt,
    COMMUTATOR = OPERATOR(crm.<), NEGATOR = OPERATOR(crm.<=),
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR crm.>= (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_ge,
    COMMUTATOR = OPERATOR(crm.<=), NEGATOR = OPERATOR(crm.<),
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);
CREATE OPERATOR crm.@> (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_contains,
    COMMUTATOR = OPERATOR(crm.<@),
    RESTRICT = crm.tagset_contains_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.<@ (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_contained,
    COMMUTATOR = OPERATOR(crm.@>),
    RESTRICT = crm.tagset_contained_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.&& (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_overlap,
    COMMUTATOR = OPERATOR(crm.&&),
    RESTRICT = crm.tagset_overlap_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.? (
    LEFTARG = crm.tagset, RIGHTARG = text, PROCEDURE = crm.tagset_has_label,
    RESTRICT = crm.tagset_has_sel, JOIN = contjoinsel
);
CREATE OPERATOR crm.+ (
    LEFTARG = crm.tagset, RIGHTARG = text, PROCEDURE = crm.tagset_add_label
);
CREATE OPERATOR crm.+ (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_union,
    COMMUTATOR = OPERATOR(crm.+)
);
CREATE OPERATOR crm.- (
    LEFTARG = crm.tagset, RIGHTARG = text, PROCEDURE = crm.tagset_remove_label
);
CREATE OPERATOR crm.- (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_minus
);
CREATE OPERATOR crm.| (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_union,
    COMMUTATOR = OPERATOR(crm.|)
);
CREATE OPERATOR crm.& (
    LEFTARG = crm.tagset, RIGHTARG = crm.tagset, PROCEDURE = crm.tagset_intersect,
    COMMUTATOR = OPERATOR(crm.&)
);

CREATE OPERATOR CLASS crm.tagset_ops DEFAULT FOR TYPE crm.tagset USING btree AS
    OPERATOR 1 crm.< , OPERATOR 2 crm.<= , OPERATOR 3 crm.= ,
    OPERATOR 4 crm.>= , OPERATOR 5 crm.> ,
    FUNCTION 1 crm.tagset_cmp(crm.tagset, crm.tagset);
CREATE OPERATOR CLASS crm.tagset_hash_ops DEFAULT FOR TYPE crm.tagset USING hash AS
    OPERATOR 1 crm.= ,
    FUNCTION 1 crm.tagset_hash(crm.tagset),
    FUNCTION 2 crm.tagset_hash_extended(crm.tagset, bigint);

-- GIN: one key per label, stored as text and ordered bytewise.
CREATE FUNCTION crm.tagset_gin_compare(text, text) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_gin_compare' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_extract_value(crm.tagset, internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'tagset_gin_extract_value' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_extract_query(crm.tagset, internal, int2, internal, internal, internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'tagset_gin_extract_query' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_consistent(internal, int2, crm.tagset, int4, internal, internal, internal, internal) RETURNS boolean
    AS 'MODULE_PATHNAME', 'tagset_gin_consistent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_gin_triconsistent(internal, int2, crm.tagset, int4, internal, internal, internal) RETURNS "char"
    AS 'MODULE_PATHNAME', 'tagset_gin_triconsistent' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OPERATOR CLASS crm.tagset_gin_ops DEFAULT FOR TYPE crm.tagset USING gin AS
    OPERATOR 1 crm.&& (crm.tagset, crm.tagset),
    OPERATOR 2 crm.@> (crm.tagset, crm.tagset),
    OPERATOR 3 crm.<@ (crm.tagset, crm.tagset),
    OPERATOR 4 crm.= (crm.tagset, crm.tagset),
    OPERATOR 5 crm.? (crm.tagset, text),
    FUNCTION 1 crm.tagset_gin_compare(text, text),
    FUNCTION 2 crm.tagset_gin_extract_value(crm.tagset, internal, internal),
    FUNCTION 3 crm.tagset_gin_extract_query(crm.tagset, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 crm.tagset_gin_consistent(internal, int2, crm.tagset, int4, internal, internal, internal, internal),
    FUNCTION 6 crm.tagset_gin_triconsistent(internal, int2, crm.tagset, int4, internal, internal, internal),
    STORAGE text;

-- Casts: text[] in and out (assignment, so "=" never falls back to arrays).
CREATE FUNCTION crm.tagset(text[]) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_from_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tagset_to_array(crm.tagset) RETURNS text[]
    AS 'MODULE_PATHNAME', 'tagset_to_array' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE CAST (text[] AS crm.tagset) WITH FUNCTION crm.tagset(text[]) AS ASSIGNMENT;
CREATE CAST (crm.tagset AS text[]) WITH FUNCTION crm.tagset_to_array(crm.tagset) AS ASSIGNMENT;

-- Accessors.
CREATE FUNCTION crm.tag_count(crm.tagset) RETURNS integer
    AS 'MODULE_PATHNAME', 'tagset_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.tags_in_namespace(tags crm.tagset, namespace text) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_in_namespace' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION crm.unnest(tags crm.tagset) RETURNS SETOF text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN pg_catalog.unnest(crm.tagset_to_array(tags));
CREATE FUNCTION crm.tag_labels(tags crm.tagset)
    RETURNS TABLE (label text, namespace text, name text)
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    BEGIN ATOMIC
        SELECT l,
               CASE WHEN pg_catalog.strpos(l, ':') OPERATOR(pg_catalog.>) 0
                    THEN pg_catalog.split_part(l, ':', 1) END,
               CASE WHEN pg_catalog.strpos(l, ':') OPERATOR(pg_catalog.>) 0
                    THEN pg_catalog.substr(l, pg_catalog.strpos(l, ':') OPERATOR(pg_catalog.+) 1)
                    ELSE l END
          FROM pg_catalog.unnest(crm.tagset_to_array(tags)) AS u(l);
    END;

-- Aggregate: union of sets; the state is a crm.tagset, so it is parallel and
-- distributable without serialisation.
CREATE FUNCTION crm.tagset_union_trans(crm.tagset, crm.tagset) RETURNS crm.tagset
    AS 'MODULE_PATHNAME', 'tagset_union_trans' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE AGGREGATE crm.tag_union(crm.tagset) (
    SFUNC = crm.tagset_union_trans,
    STYPE = crm.tagset,
    COMBINEFUNC = crm.tagset_union_trans,
    INITCOND = '{}',
    PARALLEL = SAFE
);

COMMENT ON FUNCTION crm.tagset_in(cstring) IS 'text input of crm.tagset: {label,...} or a single label; labels are trimmed, lower-cased, sorted and de-duplicated';
COMMENT ON FUNCTION crm.tagset_out(crm.tagset) IS 'text output of crm.tagset: {label,...} in byte order';
COMMENT ON FUNCTION crm.tagset_recv(internal) IS 'binary input of crm.tagset: int32 count, then each label as int32 length and text; validated like the text input';
COMMENT ON FUNCTION crm.tagset_send(crm.tagset) IS 'binary output of crm.tagset: int32 count, then each label as int32 length and text';
COMMENT ON FUNCTION crm.tagset_typanalyze(internal) IS 'ANALYZE support: statistics of whole sets plus the frequencies of the most common labels';
COMMENT ON FUNCTION crm.tagset_contains_sel(internal, oid, internal, integer) IS 'restriction estimator of @> from label frequencies';
COMMENT ON FUNCTION crm.tagset_contained_sel(internal, oid, internal, integer) IS 'restriction estimator of <@ from label frequencies';
COMMENT ON FUNCTION crm.tagset_overlap_sel(internal, oid, internal, integer) IS 'restriction estimator of && from label frequencies';
COMMENT ON FUNCTION crm.tagset_has_sel(internal, oid, internal, integer) IS 'restriction estimator of ? from label frequencies';
COMMENT ON FUNCTION crm.tagset_eq(crm.tagset, crm.tagset) IS 'the same labels';
COMMENT ON FUNCTION crm.tagset_ne(crm.tagset, crm.tagset) IS 'not the same labels';
COMMENT ON FUNCTION crm.tagset_lt(crm.tagset, crm.tagset) IS 'less than, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_le(crm.tagset, crm.tagset) IS 'less than or equal, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_gt(crm.tagset, crm.tagset) IS 'greater than, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_ge(crm.tagset, crm.tagset) IS 'greater than or equal, comparing the sorted labels in turn';
COMMENT ON FUNCTION crm.tagset_cmp(crm.tagset, crm.tagset) IS 'btree support: -1, 0 or 1';
COMMENT ON FUNCTION crm.tagset_hash(crm.tagset) IS 'hash support';
COMMENT ON FUNCTION crm.tagset_hash_extended(crm.tagset, bigint) IS 'hash support, 64-bit with seed';
COMMENT ON FUNCTION crm.tagset_contains(crm.tagset, crm.tagset) IS 'the first set holds every label of the second';
COMMENT ON FUNCTION crm.tagset_contained(crm.tagset, crm.tagset) IS 'every label of the first set is in the second';
COMMENT ON FUNCTION crm.tagset_overlap(crm.tagset, crm.tagset) IS 'the sets share at least one label';
COMMENT ON FUNCTION crm.tagset_has_label(crm.tagset, text) IS 'the set holds the label (normalised first)';
COMMENT ON FUNCTION crm.tagset_union(crm.tagset, crm.tagset) IS 'labels in either set';
COMMENT ON FUNCTION crm.tagset_intersect(crm.tagset, crm.tagset) IS 'labels in both sets';
COMMENT ON FUNCTION crm.tagset_minus(crm.tagset, crm.tagset) IS 'labels of the first set that are not in the second';
COMMENT ON FUNCTION crm.tagset_add_label(crm.tagset, text) IS 'the set with one more label (normalised and validated)';
COMMENT ON FUNCTION crm.tagset_remove_label(crm.tagset, text) IS 'the set without the label (normalised and validated)';
COMMENT ON FUNCTION crm.tagset_gin_compare(text, text) IS 'GIN support: bytewise order of labels';
COMMENT ON FUNCTION crm.tagset_gin_extract_value(crm.tagset, internal, internal) IS 'GIN support: the labels of an indexed set';
COMMENT ON FUNCTION crm.tagset_gin_extract_query(crm.tagset, internal, int2, internal, internal, internal, internal) IS 'GIN support: the labels of a query and its search mode';
COMMENT ON FUNCTION crm.tagset_gin_consistent(internal, int2, crm.tagset, int4, internal, internal, internal, internal) IS 'GIN support: whether an indexed set can match';
COMMENT ON FUNCTION crm.tagset_gin_triconsistent(internal, int2, crm.tagset, int4, internal, internal, internal) IS 'GIN support: ternary match for the fast scan';
COMMENT ON FUNCTION crm.tagset(text[]) IS 'cast from text[]: each element is a label; NULL elements are an error';
COMMENT ON FUNCTION crm.tagset_to_array(crm.tagset) IS 'cast to text[]: the labels in sorted order';
COMMENT ON FUNCTION crm.tag_count(crm.tagset) IS 'number of labels in the set';
COMMENT ON FUNCTION crm.tags_in_namespace(crm.tagset, text) IS 'the labels of the set in a namespace (the part before the first colon), such as region';
COMMENT ON FUNCTION crm.unnest(crm.tagset) IS 'one row per label, in sorted order';
COMMENT ON FUNCTION crm.tag_labels(crm.tagset) IS 'one row per label with its namespace (NULL when it has none) and the name after the colon';
COMMENT ON FUNCTION crm.tagset_union_trans(crm.tagset, crm.tagset) IS 'transition and combine function of crm.tag_union';
COMMENT ON AGGREGATE crm.tag_union(crm.tagset) IS 'union of the label sets of all rows; parallel safe; {} when there are no rows';
COMMENT ON OPERATOR crm.= (crm.tagset, crm.tagset) IS 'the same labels';
COMMENT ON OPERATOR crm.<> (crm.tagset, crm.tagset) IS 'not the same labels';
COMMENT ON OPERATOR crm.< (crm.tagset, crm.tagset) IS 'less than';
COMMENT ON OPERATOR crm.<= (crm.tagset, crm.tagset) IS 'less than or equal';
COMMENT ON OPERATOR crm.> (crm.tagset, crm.tagset) IS 'greater than';
COMMENT ON OPERATOR crm.>= (crm.tagset, crm.tagset) IS 'greater than or equal';
COMMENT ON OPERATOR crm.@> (crm.tagset, crm.tagset) IS 'contains all labels of';
COMMENT ON OPERATOR crm.<@ (crm.tagset, crm.tagset) IS 'every label is in';
COMMENT ON OPERATOR crm.&& (crm.tagset, crm.tagset) IS 'shares at least one label with';
COMMENT ON OPERATOR crm.? (crm.tagset, text) IS 'holds the label';
COMMENT ON OPERATOR crm.+ (crm.tagset, text) IS 'add a label';
COMMENT ON OPERATOR crm.+ (crm.tagset, crm.tagset) IS 'add the labels of a set (union)';
COMMENT ON OPERATOR crm.- (crm.tagset, text) IS 'remove a label';
COMMENT ON OPERATOR crm.- (crm.tagset, crm.tagset) IS 'remove the labels of a set';
COMMENT ON OPERATOR crm.| (crm.tagset, crm.tagset) IS 'union';
COMMENT ON OPERATOR crm.& (crm.tagset, crm.tagset) IS 'intersection';
COMMENT ON OPERATOR CLASS crm.tagset_ops USING btree IS 'btree order of crm.tagset: labels compared in turn, bytewise';
COMMENT ON OPERATOR FAMILY crm.tagset_ops USING btree IS 'btree order of crm.tagset';
COMMENT ON OPERATOR CLASS crm.tagset_hash_ops USING hash IS 'hashing of crm.tagset (GROUP BY, DISTINCT, hash joins)';
COMMENT ON OPERATOR FAMILY crm.tagset_hash_ops USING hash IS 'hashing of crm.tagset';
COMMENT ON OPERATOR CLASS crm.tagset_gin_ops USING gin IS 'GIN index of crm.tagset, one key per label: serves @>, <@, &&, = and ?';
COMMENT ON OPERATOR FAMILY crm.tagset_gin_ops USING gin IS 'GIN index of crm.tagset';
COMMENT ON CAST (text[] AS crm.tagset) IS 'each element is a label; NULL elements are an error';
COMMENT ON CAST (crm.tagset AS text[]) IS 'the labels in sorted order';

-- ---------------------------------------------------------------------------
-- Customer tags: the column, its index, tagging by hand
-- ---------------------------------------------------------------------------

ALTER TABLE crm.customer ADD COLUMN tags crm.tagset NOT NULL DEFAULT '{}';
CREATE INDEX customer_tags_idx ON crm.customer USING gin (tags);
COMMENT ON INDEX crm.customer_tags_idx IS 'GIN index of customer tags: serves @>, <@, &&, = and ?';
COMMENT ON COLUMN crm.customer.tags IS 'labels of the customer (crm.tagset), by hand (crm.tag, crm.untag) and by rules (crm.apply_tag_rules); GIN-indexed';

CREATE FUNCTION crm.tag(customer_id bigint, VARIADIC labels text[]) RETURNS crm.tagset
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    result crm.tagset;
BEGIN
    IF tag.customer_id IS NULL OR labels IS NULL THEN
        RAISE EXCEPTION 'customer id and labels must not be NULL'
            USING ERRCODE = '22004',
                  DETAIL = 'Both the customer id and the labels are required.',
                  HINT = 'Call crm.tag(customer_id, ''label'', ...).';
    END IF;
    UPDATE crm.customer c SET tags = c.tags OPERATOR(crm.|) crm.tagset(labels)
     WHERE c.id = tag.customer_id
    RETURNING c.tags INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', tag.customer_id
            USING ERRCODE = 'P0002',
                  DETAIL = 'No row of crm.customer has this id.',
                  HINT = 'Check the id; a customer merged into another has been deleted (see crm.customer_merge).';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION crm.tag(bigint, text[]) IS 'adds labels to a customer and returns the customer''s new tags; labels are validated and normalised';

CREATE FUNCTION crm.untag(customer_id bigint, VARIADIC labels text[]) RETURNS crm.tagset
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    result crm.tagset;
BEGIN
    IF untag.customer_id IS NULL OR labels IS NULL THEN
        RAISE EXCEPTION 'customer id and labels must not be NULL'
            USING ERRCODE = '22004',
                  DETAIL = 'Both the customer id and the labels are required.',
                  HINT = 'Call crm.untag(customer_id, ''label'', ...).';
    END IF;
    UPDATE crm.customer c SET tags = c.tags OPERATOR(crm.-) crm.tagset(labels)
     WHERE c.id = untag.customer_id
    RETURNING c.tags INTO result;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'customer % does not exist', untag.customer_id
            USING ERRCODE = 'P0002',
                  DETAIL = 'No row of crm.customer has this id.',
                  HINT = 'Check the id; a customer merged into another has been deleted (see crm.customer_merge).';
    END IF;
    RETURN result;
END
$$;
COMMENT ON FUNCTION crm.untag(bigint, text[]) IS 'removes labels from a customer and returns the customer''s new tags';

-- crm.merge_customers logs the merge in crm.customer_merge while both rows
-- still exist: at that moment the kept customer takes the duplicate's tags.
CREATE FUNCTION crm.customer_merge_tags() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    UPDATE crm.customer k SET tags = k.tags OPERATOR(crm.|) d.tags
      FROM crm.customer d
     WHERE k.id = NEW.kept_id AND d.id = NEW.merged_id
       AND NOT k.tags OPERATOR(crm.@>) d.tags;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.customer_merge_tags() IS 'trigger: when two customers are merged, the kept one gets the union of both customers'' tags';
CREATE TRIGGER customer_merge_tags AFTER INSERT ON crm.customer_merge
    FOR EACH ROW EXECUTE FUNCTION crm.customer_merge_tags();
COMMENT ON TRIGGER customer_merge_tags ON crm.customer_merge IS 'the kept customer of a merge gets the union of both customers'' tags';

-- ---------------------------------------------------------------------------
-- Rule-based tagging
-- ---------------------------------------------------------------------------

CREATE VIEW crm.customer_metrics AS
SELECT c.id AS customer_id,
       c.gender,
       date_part('year', age(current_date, c.birth_date))::integer AS age,
       c.region,
       c.city,
       c.occupation,
       c.income_band,
       c.education,
       c.family_status,
       c.owner,
       c.created_at,
       c.tags,
       coalesce(p.total_spend, 0)::numeric(14, 2) AS total_spend,
       coalesce(p.purchase_count, 0) AS purchase_count,
       p.first_purchase_at,
       p.last_purchase_at,
       (current_date - p.last_purchase_at::date) AS days_since_last_purchase,
       coalesce(p.spend_12m, 0)::numeric(14, 2) AS spend_12m,
       coalesce(p.purchases_12m, 0) AS purchases_12m,
       round(p.total_spend / nullif(p.purchase_count, 0), 2) AS avg_order_value,
       coalesce(p.channels, '{}') AS channels,
       coalesce(p.channel_count, 0) AS channel_count,
       p.main_channel,
       coalesce(p.store_spend, 0)::numeric(14, 2) AS store_spend,
       coalesce(p.online_spend, 0)::numeric(14, 2) AS online_spend,
       coalesce(p.app_spend, 0)::numeric(14, 2) AS app_spend,
       coalesce(p.mini_program_spend, 0)::numeric(14, 2) AS mini_program_spend,
       coalesce(p.phone_spend, 0)::numeric(14, 2) AS phone_spend,
       coalesce(i.interaction_count, 0) AS interaction_count,
       coalesce(i.complaint_count, 0) AS complaint_count,
       i.last_interaction_at
  FROM crm.customer c
  LEFT JOIN (
        SELECT pu.customer_id,
               sum(pu.amount) AS total_spend,
               count(*) AS purchase_count,
               min(pu.purchased_at) AS first_purchase_at,
               max(pu.purchased_at) AS last_purchase_at,
               sum(pu.amount) FILTER (WHERE pu.purchased_at >= now() - interval '12 months') AS spend_12m,
               count(*) FILTER (WHERE pu.purchased_at >= now() - interval '12 months') AS purchases_12m,
               array_agg(DISTINCT pu.channel ORDER BY pu.channel) AS channels,
               count(DISTINCT pu.channel) AS channel_count,
               mode() WITHIN GROUP (ORDER BY pu.channel) AS main_channel,
               sum(pu.amount) FILTER (WHERE pu.channel = 'store') AS store_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'online') AS online_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'app') AS app_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'mini_program') AS mini_program_spend,
               sum(pu.amount) FILTER (WHERE pu.channel = 'phone') AS phone_spend
          FROM crm.purchase pu
         GROUP BY pu.customer_id) p ON p.customer_id = c.id
  LEFT JOIN (
        SELECT it.customer_id,
               count(*) AS interaction_count,
               count(*) FILTER (WHERE it.kind = 'complaint') AS complaint_count,
               max(it.occurred_at) AS last_interaction_at
          FROM crm.interaction it
         GROUP BY it.customer_id) i ON i.customer_id = c.id;
COMMENT ON VIEW crm.customer_metrics IS 'one row per customer: profile, purchase totals, recency, channel mix and interactions; tag rule predicates are expressions over its columns';
COMMENT ON COLUMN crm.customer_metrics.customer_id IS 'customer id';
COMMENT ON COLUMN crm.customer_metrics.gender IS 'female, male, other or unknown';
COMMENT ON COLUMN crm.customer_metrics.age IS 'age in whole years today (NULL without a birth date)';
COMMENT ON COLUMN crm.customer_metrics.region IS 'region or province';
COMMENT ON COLUMN crm.customer_metrics.city IS 'city';
COMMENT ON COLUMN crm.customer_metrics.occupation IS 'occupation';
COMMENT ON COLUMN crm.customer_metrics.income_band IS 'income band';
COMMENT ON COLUMN crm.customer_metrics.education IS 'education level';
COMMENT ON COLUMN crm.customer_metrics.family_status IS 'family status';
COMMENT ON COLUMN crm.customer_metrics.owner IS 'staff role responsible for the customer';
COMMENT ON COLUMN crm.customer_metrics.created_at IS 'when the customer was first recorded';
COMMENT ON COLUMN crm.customer_metrics.tags IS 'the customer''s current labels';
COMMENT ON COLUMN crm.customer_metrics.total_spend IS 'sum of all purchase amounts (0 without purchases)';
COMMENT ON COLUMN crm.customer_metrics.purchase_count IS 'number of purchases';
COMMENT ON COLUMN crm.customer_metrics.first_purchase_at IS 'time of the first purchase';
COMMENT ON COLUMN crm.customer_metrics.last_purchase_at IS 'time of the last purchase';
COMMENT ON COLUMN crm.customer_metrics.days_since_last_purchase IS 'whole days from the last purchase to today (NULL without purchases)';
COMMENT ON COLUMN crm.customer_metrics.spend_12m IS 'spend in the last 12 months';
COMMENT ON COLUMN crm.customer_metrics.purchases_12m IS 'purchases in the last 12 months';
COMMENT ON COLUMN crm.customer_metrics.avg_order_value IS 'total spend divided by the number of purchases, to the cent';
COMMENT ON COLUMN crm.customer_metrics.channels IS 'channels the customer has bought through, sorted';
COMMENT ON COLUMN crm.customer_metrics.channel_count IS 'number of distinct purchase channels';
COMMENT ON COLUMN crm.customer_metrics.main_channel IS 'channel of most purchases (ties: first by name)';
COMMENT ON COLUMN crm.customer_metrics.store_spend IS 'spend through the store channel';
COMMENT ON COLUMN crm.customer_metrics.online_spend IS 'spend through the online channel';
COMMENT ON COLUMN crm.customer_metrics.app_spend IS 'spend through the app channel';
COMMENT ON COLUMN crm.customer_metrics.mini_program_spend IS 'spend through the mini_program channel';
COMMENT ON COLUMN crm.customer_metrics.phone_spend IS 'spend through the phone channel';
COMMENT ON COLUMN crm.customer_metrics.interaction_count IS 'number of recorded interactions';
COMMENT ON COLUMN crm.customer_metrics.complaint_count IS 'number of interactions of kind complaint';
COMMENT ON COLUMN crm.customer_metrics.last_interaction_at IS 'time of the last interaction';

CREATE FUNCTION crm.tag_rule_parse_predicate(text) RETURNS void
    AS 'MODULE_PATHNAME', 'tag_rule_parse_predicate' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.tag_rule_parse_predicate(text) IS 'raises an error unless the text is exactly one SQL expression (no second statement, no clauses)';

CREATE FUNCTION crm.check_tag_predicate(predicate text) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = crm, pg_catalog, pg_temp
    AS $$
DECLARE
    msg    text;
    det    text;
    code   text;
BEGIN
    IF predicate IS NULL OR btrim(predicate) = '' THEN
        RAISE EXCEPTION 'tag rule predicate must not be empty'
            USING ERRCODE = '22023',
                  DETAIL = 'A rule needs a condition that says which customers get its label.',
                  HINT = 'Write a boolean expression over crm.customer_metrics, such as total_spend > 1000.';
    END IF;
    BEGIN
        PERFORM crm.tag_rule_parse_predicate(predicate);
        -- Plan, never run, the predicate against the view (with the same
        -- search_path as crm.apply_tag_rules, so crm's operators such as
        -- tags ? 'vip' resolve the same way): unknown columns,
        -- type errors and non-boolean results fail here.  The line breaks
        -- end any trailing -- comment inside the predicate.
        EXECUTE format(E'EXPLAIN (COSTS OFF) SELECT m.customer_id FROM crm.customer_metrics m WHERE (\n%s\n)', predicate);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, code = RETURNED_SQLSTATE;
        IF code LIKE '25%' THEN
            RAISE;      -- not a problem of the predicate (e.g. a read-only transaction)
        END IF;
        RAISE EXCEPTION 'invalid tag rule predicate: %', predicate
            USING ERRCODE = code,
                  DETAIL = CASE WHEN msg LIKE 'tag rule predicate is not one expression%' THEN det
                                ELSE upper(left(msg, 1)) || substr(msg, 2) || '.' END,
                  HINT = 'Write a boolean expression over the columns of crm.customer_metrics, such as total_spend > 1000 AND region = ''north''.';
    END;
END
$$;
COMMENT ON FUNCTION crm.check_tag_predicate(text) IS 'raises a clear error unless the text is one boolean SQL expression over the columns of crm.customer_metrics';

CREATE TABLE crm.tag_rule (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    label       text NOT NULL UNIQUE,
    predicate   text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    description text,
    created_by  text NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE crm.tag_rule IS 'rules of rule-based tagging: crm.apply_tag_rules() gives label to exactly the customers for whom predicate is true; only the owner (and roles it grants INSERT/UPDATE to) can write rules';
COMMENT ON COLUMN crm.tag_rule.name IS 'rule name: lower case letters, digits and _';
COMMENT ON COLUMN crm.tag_rule.label IS 'the label the rule manages (normalised; one rule per label)';
COMMENT ON COLUMN crm.tag_rule.predicate IS 'boolean SQL expression over the columns of crm.customer_metrics, checked when saved';
COMMENT ON COLUMN crm.tag_rule.enabled IS 'disabled rules are skipped and leave their label as it is';
COMMENT ON COLUMN crm.tag_rule.description IS 'what the rule is for';
COMMENT ON COLUMN crm.tag_rule.created_by IS 'the role that created the rule';
COMMENT ON COLUMN crm.tag_rule.created_at IS 'when the rule was created';
REVOKE ALL ON crm.tag_rule FROM PUBLIC;

CREATE FUNCTION crm.tag_rule_check() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    normalised crm.tagset;
BEGIN
    normalised := crm.tagset(ARRAY[NEW.label]);
    NEW.label := (crm.tagset_to_array(normalised))[1];
    NEW.predicate := btrim(NEW.predicate);
    PERFORM crm.check_tag_predicate(NEW.predicate);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.tag_rule_check() IS 'trigger: normalises the label and rejects a rule whose predicate does not parse or refers to unknown columns';
CREATE TRIGGER tag_rule_check BEFORE INSERT OR UPDATE OF label, predicate ON crm.tag_rule
    FOR EACH ROW EXECUTE FUNCTION crm.tag_rule_check();
COMMENT ON TRIGGER tag_rule_check ON crm.tag_rule IS 'checks a rule''s predicate and normalises its label when it is saved';

SELECT pg_catalog.pg_extension_config_dump('crm.tag_rule', '');

CREATE FUNCTION crm.apply_tag_rules()
    RETURNS TABLE (rule text, label text, added bigint, removed bigint, tagged bigint)
    LANGUAGE plpgsql VOLATILE
    SET search_path = crm, pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.name, t.label, t.predicate FROM crm.tag_rule t WHERE t.enabled ORDER BY t.name
    LOOP
        -- One pass per rule: evaluate the predicate for every customer once,
        -- and touch only the rows whose label must change.
        RETURN QUERY EXECUTE format($q$
            WITH m AS MATERIALIZED (
                SELECT m.customer_id, coalesce((
                    %s
                ), false) AS hit
                  FROM crm.customer_metrics m
            ), u AS (
                UPDATE crm.customer c
                   SET tags = CASE WHEN m.hit THEN c.tags OPERATOR(crm.+) $1
                                   ELSE c.tags OPERATOR(crm.-) $1 END
                  FROM m
                 WHERE m.customer_id = c.id
                   AND m.hit IS DISTINCT FROM (c.tags OPERATOR(crm.?) $1)
                RETURNING m.hit
            )
            SELECT $2, $1,
                   (SELECT count(*) FROM u WHERE u.hit),
                   (SELECT count(*) FROM u WHERE NOT u.hit),
                   (SELECT count(*) FROM m WHERE m.hit)$q$, r.predicate)
            USING r.label, r.name;
    END LOOP;
END
$$;
COMMENT ON FUNCTION crm.apply_tag_rules() IS 'runs every enabled tag rule: adds its label to the customers matching its predicate and removes it from the others, one pass per rule; returns per rule the customers added, removed and tagged in total';

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
COMMENT ON TYPE crm.rfm_table IS 'state of crm.rfm_collect: purchases, last purchase and exact spend of every customer of a table (a flat hash table); exact text and binary round trip';

CREATE FUNCTION crm.rfm_collect_trans(crm.rfm_table, bigint, timestamptz, numeric) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_collect_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_collect_trans(crm.rfm_table, bigint, timestamptz, numeric) IS 'transition function of crm.rfm_collect';
CREATE FUNCTION crm.rfm_collect_combine(crm.rfm_table, crm.rfm_table) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_collect_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_collect_combine(crm.rfm_table, crm.rfm_table) IS 'combine function of crm.rfm_collect';

CREATE FUNCTION crm.rfm_collect_final(crm.rfm_table) RETURNS crm.rfm_table
    AS 'MODULE_PATHNAME', 'rfm_collect_final' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.rfm_collect_final(crm.rfm_table) IS 'final function of crm.rfm_collect: moves the last batch of purchases into the table';

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
COMMENT ON FUNCTION crm.rfm_analyze(timestamptz, regclass, name, name, name, interval) IS 'RFM of every customer of a purchase table in one pass: recency (whole days since the last purchase up to as_of), frequency (rows), monetary (sum of amount), quintile scores, crm.rfm and segment; only purchases in (as_of - period, as_of] count; the scan is one crm.rfm_collect aggregate, run without parallel workers';

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

-- ---------------------------------------------------------------------------
-- Value tiers, ABC classes and lifecycle stages
-- ---------------------------------------------------------------------------

CREATE TYPE crm.tier AS ENUM ('iron', 'bronze', 'silver', 'diamond');
COMMENT ON TYPE crm.tier IS 'customer value tier, lowest to highest: iron (no purchase yet), bronze (low value), silver (medium, stable), diamond (highest value, loyal)';

ALTER TABLE crm.customer
    ADD COLUMN tier crm.tier NOT NULL DEFAULT 'iron',
    ADD COLUMN partner_role text CHECK (partner_role IN ('agent', 'franchisee', 'distributor')),
    ADD COLUMN high_cooperation boolean NOT NULL DEFAULT false,
    ADD COLUMN high_loyalty boolean NOT NULL DEFAULT false;
CREATE INDEX customer_tier_idx ON crm.customer (tier);
COMMENT ON COLUMN crm.customer.tier IS 'value tier, maintained by crm.classify_tiers()';
COMMENT ON COLUMN crm.customer.partner_role IS 'for trade customers: agent, franchisee or distributor (used by crm.abc_distributor)';
COMMENT ON COLUMN crm.customer.high_cooperation IS 'the business rates the cooperation with this customer as high (crm.abc_distributor)';
COMMENT ON COLUMN crm.customer.high_loyalty IS 'the business rates this customer''s loyalty as high (crm.abc_distributor)';

CREATE TABLE crm.tier_policy (
    tier                crm.tier PRIMARY KEY CHECK (tier <> 'iron'),
    min_r               smallint CHECK (min_r BETWEEN 1 AND 5),
    min_f               smallint CHECK (min_f BETWEEN 1 AND 5),
    min_m               smallint CHECK (min_m BETWEEN 1 AND 5),
    max_revenue_rank    numeric CHECK (max_revenue_rank > 0 AND max_revenue_rank <= 1),
    min_purchases       bigint CHECK (min_purchases >= 1),
    min_spend           numeric CHECK (min_spend >= 0),
    builtin             boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.tier_policy IS 'tier thresholds: a customer with purchases gets the highest tier whose every non-NULL condition holds (bronze has none by default); customers without purchases are iron';
COMMENT ON COLUMN crm.tier_policy.tier IS 'the tier (iron is fixed: no purchase)';
COMMENT ON COLUMN crm.tier_policy.min_r IS 'lowest recency score';
COMMENT ON COLUMN crm.tier_policy.min_f IS 'lowest frequency score';
COMMENT ON COLUMN crm.tier_policy.min_m IS 'lowest monetary score';
COMMENT ON COLUMN crm.tier_policy.max_revenue_rank IS 'spend share: the customers above this one, ranked by spend, bring less than this share of all revenue (0.5 = among the customers making the first half of revenue)';
COMMENT ON COLUMN crm.tier_policy.min_purchases IS 'lowest number of purchases';
COMMENT ON COLUMN crm.tier_policy.min_spend IS 'lowest total spend';
INSERT INTO crm.tier_policy (tier, min_r, min_f, min_m, max_revenue_rank, min_purchases, min_spend) VALUES
    ('diamond', 3, NULL, NULL, 0.50, 3, NULL),
    ('silver',  2, NULL, NULL, 0.80, 2, NULL),
    ('bronze',  NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE crm.tier_policy SET builtin = true;
COMMENT ON COLUMN crm.tier_policy.builtin IS 'true for the rows the extension ships; pg_dump keeps the others, and the shipped ones as they are now (see crm.config_upsert)';
CREATE TRIGGER tier_policy_config_upsert BEFORE INSERT ON crm.tier_policy
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('tier');
ALTER TABLE crm.tier_policy ENABLE ALWAYS TRIGGER tier_policy_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.tier_policy', '');

CREATE TABLE crm.tier_history (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES crm.customer (id) ON DELETE CASCADE,
    old_tier    crm.tier NOT NULL,
    new_tier    crm.tier NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tier_history_customer_idx ON crm.tier_history (customer_id, changed_at);
COMMENT ON TABLE crm.tier_history IS 'every tier change made by crm.classify_tiers(): who, from, to, when';
COMMENT ON COLUMN crm.tier_history.id IS 'change id';
COMMENT ON COLUMN crm.tier_history.customer_id IS 'the customer';
COMMENT ON COLUMN crm.tier_history.old_tier IS 'tier before';
COMMENT ON COLUMN crm.tier_history.new_tier IS 'tier after';
COMMENT ON COLUMN crm.tier_history.changed_at IS 'when (transaction time)';
SELECT pg_catalog.pg_extension_config_dump('crm.tier_history', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.tier_history', 'id'), '');

CREATE VIEW crm.customer_value AS
SELECT s.customer_id, s.r, s.f, s.m, s.frequency, s.monetary,
       coalesce((sum(s.monetary) OVER w) / nullif(sum(s.monetary) OVER (), 0), 0) AS revenue_share_above
  FROM crm.customer_rfm_score s
WINDOW w AS (ORDER BY s.monetary DESC RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP);
COMMENT ON VIEW crm.customer_value IS 'per scored customer: RFM scores, purchases, spend, and the share of all revenue brought by customers who spent strictly more (0 for the top spender)';
COMMENT ON COLUMN crm.customer_value.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_value.r IS 'recency score';
COMMENT ON COLUMN crm.customer_value.f IS 'frequency score';
COMMENT ON COLUMN crm.customer_value.m IS 'monetary score';
COMMENT ON COLUMN crm.customer_value.frequency IS 'purchases';
COMMENT ON COLUMN crm.customer_value.monetary IS 'total spend';
COMMENT ON COLUMN crm.customer_value.revenue_share_above IS 'share of all revenue brought by customers who spent strictly more';

CREATE FUNCTION crm.classify_tiers(refresh boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    n bigint;
BEGIN
    IF refresh THEN
        PERFORM crm.refresh_rfm();
    END IF;
    LOCK TABLE crm.customer IN SHARE ROW EXCLUSIVE MODE;
    WITH target AS (
        SELECT c.id, c.tier AS old_tier,
               coalesce((SELECT p.tier FROM crm.tier_policy p
                          WHERE v.customer_id IS NOT NULL
                            AND (p.min_r IS NULL OR v.r >= p.min_r)
                            AND (p.min_f IS NULL OR v.f >= p.min_f)
                            AND (p.min_m IS NULL OR v.m >= p.min_m)
                            AND (p.max_revenue_rank IS NULL OR v.revenue_share_above < p.max_revenue_rank)
                            AND (p.min_purchases IS NULL OR v.frequency >= p.min_purchases)
                            AND (p.min_spend IS NULL OR v.monetary >= p.min_spend)
                          ORDER BY p.tier DESC LIMIT 1),
                        CASE WHEN v.customer_id IS NULL THEN 'iron' ELSE 'bronze' END::crm.tier) AS new_tier
          FROM crm.customer c
          LEFT JOIN crm.customer_value v ON v.customer_id = c.id
    ),
    changed AS (
        UPDATE crm.customer c SET tier = t.new_tier
          FROM target t
         WHERE c.id = t.id AND c.tier <> t.new_tier
        RETURNING c.id, t.old_tier, t.new_tier
    )
    INSERT INTO crm.tier_history (customer_id, old_tier, new_tier)
    SELECT id, old_tier, new_tier FROM changed;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION crm.classify_tiers(boolean) IS 'sets crm.customer.tier from crm.tier_policy and the RFM figures (refreshed first unless refresh is false), records every change in crm.tier_history; returns the number of customers whose tier changed';

CREATE VIEW crm.tier_summary AS
SELECT t.tier,
       count(c.id) AS customers,
       round(count(c.id) * 100.0 / nullif(sum(count(c.id)) OVER (), 0), 2) AS customer_pct,
       coalesce(sum(s.monetary), 0) AS revenue,
       round(coalesce(sum(s.monetary), 0) * 100.0 / nullif(sum(sum(s.monetary)) OVER (), 0), 2) AS revenue_pct,
       round(avg(s.frequency), 2) AS avg_frequency,
       round(avg(s.monetary), 2) AS avg_monetary,
       round(avg(s.recency_days), 1) AS avg_recency_days
  FROM unnest(enum_range(NULL::crm.tier)) AS t(tier)
  LEFT JOIN crm.customer c ON c.tier = t.tier
  LEFT JOIN crm.customer_rfm_score s ON s.customer_id = c.id
 GROUP BY t.tier
 ORDER BY t.tier DESC;
COMMENT ON VIEW crm.tier_summary IS 'per tier: customers, share of customers and of revenue (percent, from the last crm.refresh_rfm()), average purchases, spend and recency';
COMMENT ON COLUMN crm.tier_summary.tier IS 'the tier';
COMMENT ON COLUMN crm.tier_summary.customers IS 'customers in the tier';
COMMENT ON COLUMN crm.tier_summary.customer_pct IS 'percent of all customers';
COMMENT ON COLUMN crm.tier_summary.revenue IS 'their total spend (last RFM refresh)';
COMMENT ON COLUMN crm.tier_summary.revenue_pct IS 'percent of all revenue';
COMMENT ON COLUMN crm.tier_summary.avg_frequency IS 'average purchases';
COMMENT ON COLUMN crm.tier_summary.avg_monetary IS 'average spend';
COMMENT ON COLUMN crm.tier_summary.avg_recency_days IS 'average days since the last purchase';

-- ABC classes.

CREATE FUNCTION crm.abc_class(share_above numeric, a_share numeric DEFAULT 0.80, b_share numeric DEFAULT 0.15) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN CASE WHEN share_above < a_share THEN 'A'
                WHEN share_above < a_share + b_share THEN 'B'
                ELSE 'C' END;
COMMENT ON FUNCTION crm.abc_class(numeric, numeric, numeric) IS 'Pareto class from the share of revenue brought by customers who spent more: A while it is below a_share, B while below a_share + b_share, else C';

CREATE FUNCTION crm.abc_pareto(since timestamptz DEFAULT '-infinity', until timestamptz DEFAULT 'infinity',
                               a_share numeric DEFAULT 0.80, b_share numeric DEFAULT 0.15)
    RETURNS TABLE (customer_id bigint, revenue numeric, revenue_share numeric, share_above numeric, abc text)
    LANGUAGE sql STABLE PARALLEL SAFE
    BEGIN ATOMIC
        WITH rev AS (
            SELECT p.customer_id, sum(p.amount) AS revenue
              FROM crm.purchase p
             WHERE p.purchased_at >= abc_pareto.since AND p.purchased_at < abc_pareto.until
             GROUP BY p.customer_id
        ), sh AS (
            SELECT rev.customer_id, rev.revenue,
                   rev.revenue / nullif(sum(rev.revenue) OVER (), 0) AS revenue_share,
                   coalesce(sum(rev.revenue) OVER (ORDER BY rev.revenue DESC
                                RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW EXCLUDE GROUP), 0)
                       / nullif(sum(rev.revenue) OVER (), 0) AS share_above
              FROM rev
        )
        SELECT sh.customer_id, sh.revenue, round(sh.revenue_share, 6), round(sh.share_above, 6),
               crm.abc_class(coalesce(sh.share_above, 0), abc_pareto.a_share, abc_pareto.b_share)
          FROM sh
         ORDER BY sh.revenue DESC, sh.customer_id;
    END;
COMMENT ON FUNCTION crm.abc_pareto(timestamptz, timestamptz, numeric, numeric) IS 'Pareto ABC classes of the customers with purchases in [since, until): A = those making up the first a_share of revenue, B = the next b_share, C = the rest; equal spend, equal class';

CREATE FUNCTION crm.abc_distributor(year integer, top_share numeric DEFAULT 0.20, min_growth numeric DEFAULT 0.10)
    RETURNS TABLE (customer_id bigint, partner_role text, sales numeric, sales_prev numeric, sales_prev2 numeric, abc text, reason text)
    LANGUAGE sql STABLE PARALLEL SAFE
    BEGIN ATOMIC
        WITH y AS (
            SELECT p.customer_id,
                   coalesce(sum(p.amount) FILTER (WHERE p.purchased_at >= make_date(abc_distributor.year, 1, 1)
                                                    AND p.purchased_at < make_date(abc_distributor.year + 1, 1, 1)), 0) AS s0,
                   coalesce(sum(p.amount) FILTER (WHERE p.purchased_at >= make_date(abc_distributor.year - 1, 1, 1)
                                                    AND p.purchased_at < make_date(abc_distributor.year, 1, 1)), 0) AS s1,
                   coalesce(sum(p.amount) FILTER (WHERE p.purchased_at >= make_date(abc_distributor.year - 2, 1, 1)
                                                    AND p.purchased_at < make_date(abc_distributor.year - 1, 1, 1)), 0) AS s2
              FROM crm.purchase p
             WHERE p.purchased_at >= make_date(abc_distributor.year - 2, 1, 1)
               AND p.purchased_at < make_date(abc_distributor.year + 1, 1, 1)
             GROUP BY p.customer_id
        ), c AS (
            SELECT cu.id, cu.partner_role, cu.high_cooperation, cu.high_loyalty,
                   coalesce(y.s0, 0) AS s0, coalesce(y.s1, 0) AS s1, coalesce(y.s2, 0) AS s2
              FROM crm.customer cu
              LEFT JOIN y ON y.customer_id = cu.id
        ), ranked AS (
            SELECT c.*,
                   CASE WHEN c.partner_role IS DISTINCT FROM 'agent' AND c.s0 > 0
                        THEN count(*) FILTER (WHERE c.partner_role IS DISTINCT FROM 'agent' AND c.s0 > 0) OVER ()
                   END AS pool,
                   CASE WHEN c.partner_role IS DISTINCT FROM 'agent' AND c.s0 > 0
                        THEN rank() OVER (PARTITION BY (c.partner_role IS DISTINCT FROM 'agent' AND c.s0 > 0)
                                          ORDER BY c.s0 DESC)
                   END AS pos
              FROM c
        )
        SELECT r.id, r.partner_role, r.s0, r.s1, r.s2,
               CASE WHEN r.partner_role = 'agent' THEN 'A'
                    WHEN r.pos <= ceil(r.pool * abc_distributor.top_share) THEN 'A'
                    WHEN r.s2 > 0 AND r.s1 >= r.s2 * (1 + abc_distributor.min_growth)
                         AND r.s0 >= r.s1 * (1 + abc_distributor.min_growth)
                         AND r.high_cooperation AND r.high_loyalty THEN 'B'
                    ELSE 'C' END,
               CASE WHEN r.partner_role = 'agent' THEN 'agent'
                    WHEN r.pos <= ceil(r.pool * abc_distributor.top_share) THEN 'top sales'
                    WHEN r.s2 > 0 AND r.s1 >= r.s2 * (1 + abc_distributor.min_growth)
                         AND r.s0 >= r.s1 * (1 + abc_distributor.min_growth)
                         AND r.high_cooperation AND r.high_loyalty THEN 'two years of growth, cooperative and loyal'
                    ELSE 'other' END
          FROM ranked r
         ORDER BY r.id;
    END;
COMMENT ON FUNCTION crm.abc_distributor(integer, numeric, numeric) IS 'distributor ABC classes for a calendar year: A = agents and the top top_share (by rank, ties included) of the other customers with sales that year; B = at least min_growth sales growth in each of the two years up to it, with high cooperation and high loyalty; C = the rest';

-- Lifecycle stages.

CREATE TYPE crm.lifecycle_stage AS ENUM ('lead', 'new', 'active', 'at_risk', 'dormant', 'churned');
COMMENT ON TYPE crm.lifecycle_stage IS 'where a customer is in the relationship: lead (no purchase), new, active, at_risk, dormant, churned';

CREATE FUNCTION crm.lifecycle_stage(purchases bigint, first_purchase timestamptz, last_purchase timestamptz,
                                    as_of timestamptz DEFAULT now(),
                                    new_within interval DEFAULT '90 days',
                                    min_cycle interval DEFAULT '30 days')
    RETURNS crm.lifecycle_stage
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE
        WHEN coalesce(purchases, 0) = 0 OR last_purchase IS NULL THEN 'lead'
        WHEN first_purchase > as_of - new_within THEN 'new'
        ELSE (SELECT CASE WHEN gap <= 1.5 * cyc THEN 'active'
                          WHEN gap <= 3 * cyc THEN 'at_risk'
                          WHEN gap <= 6 * cyc THEN 'dormant'
                          ELSE 'churned' END::crm.lifecycle_stage
                FROM (SELECT extract(epoch FROM as_of - last_purchase) AS gap,
                             greatest(extract(epoch FROM min_cycle),
                                      CASE WHEN purchases > 1
                                           THEN extract(epoch FROM last_purchase - first_purchase) / (purchases - 1)
                                           ELSE 0 END) AS cyc) AS x)
    END;
COMMENT ON FUNCTION crm.lifecycle_stage(bigint, timestamptz, timestamptz, timestamptz, interval, interval) IS 'lifecycle stage: lead without purchases; new when the first purchase is within new_within of as_of; else, with cycle = the customer''s mean time between purchases (at least min_cycle), active while the time since the last purchase is at most 1.5 cycles, at_risk up to 3, dormant up to 6, churned beyond';

CREATE FUNCTION crm.lifecycle(as_of timestamptz DEFAULT now(), new_within interval DEFAULT '90 days',
                              min_cycle interval DEFAULT '30 days')
    RETURNS TABLE (customer_id bigint, purchases bigint, first_purchase timestamptz, last_purchase timestamptz,
                   stage crm.lifecycle_stage)
    LANGUAGE sql STABLE PARALLEL SAFE
    BEGIN ATOMIC
        SELECT c.id, coalesce((st.s).purchases, 0), (st.s).first_purchase, (st.s).last_purchase,
               crm.lifecycle_stage((st.s).purchases, (st.s).first_purchase, (st.s).last_purchase,
                                   lifecycle.as_of, lifecycle.new_within, lifecycle.min_cycle)
          FROM crm.customer c
          LEFT JOIN (SELECT p.customer_id, crm.rfm_stats(p.purchased_at, p.amount) AS s
                       FROM crm.purchase p
                      WHERE p.purchased_at <= lifecycle.as_of
                      GROUP BY p.customer_id) st ON st.customer_id = c.id
         ORDER BY c.id;
    END;
COMMENT ON FUNCTION crm.lifecycle(timestamptz, interval, interval) IS 'lifecycle stage of every customer as of a time, from the purchases up to then (see crm.lifecycle_stage for the rule)';

CREATE VIEW crm.customer_lifecycle AS
SELECT l.customer_id, c.name, l.purchases, l.first_purchase, l.last_purchase, l.stage
  FROM crm.lifecycle() l
  JOIN crm.customer c ON c.id = l.customer_id;
COMMENT ON VIEW crm.customer_lifecycle IS 'every customer with purchases, first and last purchase and lifecycle stage as of now';
COMMENT ON COLUMN crm.customer_lifecycle.customer_id IS 'the customer';
COMMENT ON COLUMN crm.customer_lifecycle.name IS 'customer name';
COMMENT ON COLUMN crm.customer_lifecycle.purchases IS 'purchases so far';
COMMENT ON COLUMN crm.customer_lifecycle.first_purchase IS 'first purchase';
COMMENT ON COLUMN crm.customer_lifecycle.last_purchase IS 'last purchase';
COMMENT ON COLUMN crm.customer_lifecycle.stage IS 'lifecycle stage as of now';

CREATE VIEW crm.lifecycle_summary AS
SELECT s.stage, count(l.customer_id) AS customers,
       round(count(l.customer_id) * 100.0 / nullif(sum(count(l.customer_id)) OVER (), 0), 2) AS customer_pct
  FROM unnest(enum_range(NULL::crm.lifecycle_stage)) AS s(stage)
  LEFT JOIN crm.lifecycle() l ON l.stage = s.stage
 GROUP BY s.stage
 ORDER BY s.stage;
COMMENT ON VIEW crm.lifecycle_summary IS 'customers per lifecycle stage as of now';
COMMENT ON COLUMN crm.lifecycle_summary.stage IS 'lifecycle stage';
COMMENT ON COLUMN crm.lifecycle_summary.customers IS 'customers in the stage';
COMMENT ON COLUMN crm.lifecycle_summary.customer_pct IS 'percent of all customers';

-- ---------------------------------------------------------------------------
-- SLA: business calendars, business-time arithmetic, SLA policies
-- ---------------------------------------------------------------------------

CREATE FUNCTION crm.parse_weekly_hours(weekly_hours text) RETURNS text
    AS 'MODULE_PATHNAME', 'parse_weekly_hours' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.parse_weekly_hours(text) IS 'validates opening hours such as ''mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00'' and returns them in canonical form; bad text is an error';

CREATE FUNCTION crm.check_time_zone(time_zone text) RETURNS text
    AS 'MODULE_PATHNAME', 'check_time_zone' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.check_time_zone(text) IS 'returns the time zone name when PostgreSQL knows it, raises an error otherwise';

CREATE FUNCTION crm.config_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'config_changed' LANGUAGE C;
COMMENT ON FUNCTION crm.config_changed() IS 'statement trigger on workflow and SLA configuration tables: makes every session reload its cached copy';

CREATE TABLE crm.business_calendar (
    name         text PRIMARY KEY CHECK (btrim(name) <> ''),
    time_zone    text NOT NULL CHECK (crm.check_time_zone(time_zone) IS NOT NULL),
    weekly_hours text NOT NULL CHECK (crm.parse_weekly_hours(weekly_hours) IS NOT NULL),
    builtin      boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.business_calendar IS 'business calendars: opening hours per weekday in a time zone; SLA clocks run only while open';
COMMENT ON COLUMN crm.business_calendar.name IS 'calendar name, used by crm.sla_policy and the business-time functions';
COMMENT ON COLUMN crm.business_calendar.time_zone IS 'IANA time zone the opening hours are given in';
COMMENT ON COLUMN crm.business_calendar.weekly_hours IS 'opening hours, canonical form of crm.parse_weekly_hours';
COMMENT ON COLUMN crm.business_calendar.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';

CREATE TABLE crm.calendar_holiday (
    calendar    text NOT NULL REFERENCES crm.business_calendar (name) ON UPDATE CASCADE ON DELETE CASCADE,
    day         date NOT NULL,
    description text,
    builtin     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (calendar, day)
);
COMMENT ON TABLE crm.calendar_holiday IS 'days a business calendar is closed all day';
COMMENT ON COLUMN crm.calendar_holiday.calendar IS 'the calendar';
COMMENT ON COLUMN crm.calendar_holiday.day IS 'the local date that is closed';
COMMENT ON COLUMN crm.calendar_holiday.description IS 'what the holiday is';
COMMENT ON COLUMN crm.calendar_holiday.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';

CREATE TABLE crm.sla_policy (
    priority       text PRIMARY KEY CHECK (priority ~ '^[a-z][a-z0-9_]*$'),
    rank           integer NOT NULL DEFAULT 0,
    first_response interval CHECK (first_response >= interval '0' AND extract(month FROM first_response) = 0 AND extract(year FROM first_response) = 0),
    resolution     interval CHECK (resolution >= interval '0' AND extract(month FROM resolution) = 0 AND extract(year FROM resolution) = 0),
    calendar       text REFERENCES crm.business_calendar (name) ON UPDATE CASCADE,
    builtin        boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.sla_policy IS 'service level per complaint priority: business time allowed to first response and to resolution';
COMMENT ON COLUMN crm.sla_policy.priority IS 'priority code used by crm.complaint';
COMMENT ON COLUMN crm.sla_policy.rank IS 'sort order, most urgent first';
COMMENT ON COLUMN crm.sla_policy.first_response IS 'time allowed until the complaint is picked up (NULL: no target)';
COMMENT ON COLUMN crm.sla_policy.resolution IS 'time allowed until it is resolved, not counting time paused in waiting_customer (NULL: no target)';
COMMENT ON COLUMN crm.sla_policy.calendar IS 'business calendar the targets count in; NULL counts clock time around the clock';
COMMENT ON COLUMN crm.sla_policy.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.sla_policy (priority, rank, first_response, resolution, builtin) VALUES
    ('critical', 1, interval '30 minutes', interval '2 hours', true),
    ('high',     2, interval '1 hour',     interval '4 hours', true),
    ('normal',   3, interval '2 hours',    interval '4 hours', true),
    ('low',      4, interval '8 hours',    interval '3 days', true);

CREATE TRIGGER business_calendar_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.business_calendar
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER calendar_holiday_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.calendar_holiday
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER sla_policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.sla_policy
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();

CREATE TRIGGER business_calendar_config_upsert BEFORE INSERT ON crm.business_calendar
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('name');
ALTER TABLE crm.business_calendar ENABLE ALWAYS TRIGGER business_calendar_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.business_calendar', '');
CREATE TRIGGER calendar_holiday_config_upsert BEFORE INSERT ON crm.calendar_holiday
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('calendar', 'day');
ALTER TABLE crm.calendar_holiday ENABLE ALWAYS TRIGGER calendar_holiday_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.calendar_holiday', '');
CREATE TRIGGER sla_policy_config_upsert BEFORE INSERT ON crm.sla_policy
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('priority');
ALTER TABLE crm.sla_policy ENABLE ALWAYS TRIGGER sla_policy_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.sla_policy', '');

-- Business-time functions and the workflow engine read these as the calling user.
GRANT SELECT ON crm.business_calendar, crm.calendar_holiday, crm.sla_policy TO PUBLIC;

CREATE FUNCTION crm.business_add(ts timestamptz, duration interval, calendar text) RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'business_add' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.business_add(timestamptz, interval, text) IS 'the instant when duration of business time in the calendar has passed after ts (weekends, holidays, time zone and daylight saving respected); NULL calendar: plain clock time; a day counts 24 hours';

CREATE FUNCTION crm.business_diff("from" timestamptz, "to" timestamptz, calendar text) RETURNS interval
    AS 'MODULE_PATHNAME', 'business_diff' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.business_diff(timestamptz, timestamptz, text) IS 'business time the calendar is open between two instants, as hours (negative when to is before from); NULL calendar: plain clock time';

CREATE FUNCTION crm.define_calendar(name text, time_zone text, weekly_hours text) RETURNS text
    LANGUAGE plpgsql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    INSERT INTO crm.business_calendar AS c (name, time_zone, weekly_hours)
    VALUES (define_calendar.name, crm.check_time_zone(define_calendar.time_zone),
            crm.parse_weekly_hours(define_calendar.weekly_hours))
    ON CONFLICT ON CONSTRAINT business_calendar_pkey DO UPDATE
        SET time_zone = excluded.time_zone, weekly_hours = excluded.weekly_hours;
    RETURN define_calendar.name;
END
$$;
COMMENT ON FUNCTION crm.define_calendar(text, text, text) IS 'creates or replaces a business calendar from a time zone and weekly hours such as ''mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00''; returns its name';

CREATE FUNCTION crm.add_holiday(calendar text, day date, description text DEFAULT NULL) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    IF calendar IS NULL OR day IS NULL THEN
        RAISE EXCEPTION 'calendar and day must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM crm.business_calendar c WHERE c.name OPERATOR(pg_catalog.=) add_holiday.calendar) THEN
        RAISE EXCEPTION 'business calendar "%" does not exist', calendar
            USING ERRCODE = '42704',
                  HINT = 'Define it with crm.define_calendar(name, time_zone, weekly_hours).';
    END IF;
    INSERT INTO crm.calendar_holiday (calendar, day, description)
    VALUES (add_holiday.calendar, add_holiday.day, add_holiday.description)
    ON CONFLICT DO NOTHING;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION crm.add_holiday(text, date, text) IS 'closes a business calendar for a whole local day; returns false when the day was already a holiday';

-- ---------------------------------------------------------------------------
-- Complaint workflow: transitions, categories, complaints, events, the C
-- trigger engine, escalation and the SLA views
-- ---------------------------------------------------------------------------

CREATE TABLE crm.workflow_transition (
    workflow              text NOT NULL CHECK (btrim(workflow) <> ''),
    from_status           text CHECK (from_status ~ '^[a-z][a-z0-9_]*$'),
    to_status             text NOT NULL CHECK (to_status ~ '^[a-z][a-z0-9_]*$'),
    role                  name,
    requires_confirmation boolean NOT NULL DEFAULT false,
    builtin               boolean NOT NULL DEFAULT false,
    CONSTRAINT workflow_transition_key UNIQUE NULLS NOT DISTINCT (workflow, from_status, to_status)
);
COMMENT ON TABLE crm.workflow_transition IS 'allowed status moves of each workflow, enforced by crm.workflow_guard(); from_status NULL marks an initial status';
COMMENT ON COLUMN crm.workflow_transition.workflow IS 'workflow name, the first argument of crm.workflow_guard()';
COMMENT ON COLUMN crm.workflow_transition.from_status IS 'status moved from; NULL: a status a new row may start in';
COMMENT ON COLUMN crm.workflow_transition.to_status IS 'status moved to';
COMMENT ON COLUMN crm.workflow_transition.role IS 'role whose members alone may make the move; NULL: anyone who may update the row';
COMMENT ON COLUMN crm.workflow_transition.requires_confirmation IS 'the move needs the confirmation column (customer_confirmed) to be true';
COMMENT ON COLUMN crm.workflow_transition.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.workflow_transition (workflow, from_status, to_status, requires_confirmation, builtin) VALUES
    ('complaint', NULL,               'received',         false, true),
    ('complaint', 'received',         'classified',       false, true),
    ('complaint', 'received',         'cancelled',        false, true),
    ('complaint', 'classified',       'investigating',    false, true),
    ('complaint', 'classified',       'waiting_customer', false, true),
    ('complaint', 'classified',       'escalated',        false, true),
    ('complaint', 'classified',       'cancelled',        false, true),
    ('complaint', 'investigating',    'waiting_customer', false, true),
    ('complaint', 'investigating',    'escalated',        false, true),
    ('complaint', 'investigating',    'resolved',         false, true),
    ('complaint', 'investigating',    'cancelled',        false, true),
    ('complaint', 'waiting_customer', 'investigating',    false, true),
    ('complaint', 'waiting_customer', 'resolved',         false, true),
    ('complaint', 'waiting_customer', 'cancelled',        false, true),
    ('complaint', 'escalated',        'investigating',    false, true),
    ('complaint', 'escalated',        'waiting_customer', false, true),
    ('complaint', 'escalated',        'resolved',         false, true),
    ('complaint', 'resolved',         'closed',           true,  true),
    ('complaint', 'resolved',         'reopened',         false, true),
    ('complaint', 'reopened',         'investigating',    false, true),
    ('complaint', 'reopened',         'escalated',        false, true);

CREATE TABLE crm.complaint_category (
    category         text PRIMARY KEY CHECK (category ~ '^[a-z][a-z0-9_]*$'),
    description      text NOT NULL,
    default_priority text NOT NULL REFERENCES crm.sla_policy (priority) ON UPDATE CASCADE,
    builtin          boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.complaint_category IS 'complaint categories and the priority a complaint of the category gets when none is given';
COMMENT ON COLUMN crm.complaint_category.category IS 'category code';
COMMENT ON COLUMN crm.complaint_category.description IS 'what the category covers';
COMMENT ON COLUMN crm.complaint_category.default_priority IS 'priority given to new complaints of this category';
COMMENT ON COLUMN crm.complaint_category.builtin IS 'true for the rows the extension ships; pg_dump keeps all rows, shipped ones as they are now';
INSERT INTO crm.complaint_category (category, description, default_priority, builtin) VALUES
    ('food_safety',     'illness, contamination, foreign object, allergen', 'critical', true),
    ('product_quality', 'taste, freshness, wrong or damaged product',       'high',     true),
    ('billing',         'wrong charge, refund, payment',                    'normal',   true),
    ('delivery_delay',  'late or missing delivery',                         'normal',   true),
    ('service',         'staff attitude, waiting time in store',            'normal',   true),
    ('app',             'app, mini-program or website problem',             'low',      true),
    ('other',           'anything else',                                    'low',      true);

CREATE TABLE crm.complaint (
    id                 bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer_id        bigint REFERENCES crm.customer (id),
    channel            text NOT NULL REFERENCES crm.channel (code) ON UPDATE CASCADE,
    category           text NOT NULL DEFAULT 'other' REFERENCES crm.complaint_category (category) ON UPDATE CASCADE,
    priority           text NOT NULL REFERENCES crm.sla_policy (priority) ON UPDATE CASCADE,
    status             text NOT NULL,
    assignee           text,
    subject            text NOT NULL CHECK (btrim(subject) <> ''),
    description        text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    first_response_at  timestamptz,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    response_due       timestamptz,
    resolution_due     timestamptz,
    escalation_level   integer NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
    customer_confirmed boolean NOT NULL DEFAULT false,
    satisfaction       smallint CHECK (satisfaction BETWEEN 1 AND 5),
    sla_paused         interval NOT NULL DEFAULT interval '0',
    sla_paused_at      timestamptz,
    status_note        text
);
CREATE INDEX complaint_customer_idx ON crm.complaint (customer_id);
CREATE INDEX complaint_open_idx ON crm.complaint (status, resolution_due)
    WHERE status NOT IN ('resolved', 'closed', 'cancelled');
CREATE INDEX complaint_created_idx ON crm.complaint (created_at);
COMMENT ON TABLE crm.complaint IS 'complaints from every channel; status moves, timestamps and deadlines are enforced by the trigger crm.workflow_guard(''complaint'')';
COMMENT ON COLUMN crm.complaint.id IS 'complaint id';
COMMENT ON COLUMN crm.complaint.customer_id IS 'the customer, when known';
COMMENT ON COLUMN crm.complaint.channel IS 'channel it came through (phone, email, online, store, social...)';
COMMENT ON COLUMN crm.complaint.category IS 'category (crm.complaint_category); gives the default priority';
COMMENT ON COLUMN crm.complaint.priority IS 'priority (crm.sla_policy); left NULL on insert, it comes from the category; changing it recomputes the deadlines';
COMMENT ON COLUMN crm.complaint.status IS 'workflow status; only the moves in crm.workflow_transition are allowed';
COMMENT ON COLUMN crm.complaint.assignee IS 'staff member handling it; every change is an event';
COMMENT ON COLUMN crm.complaint.subject IS 'one-line summary';
COMMENT ON COLUMN crm.complaint.description IS 'what the customer reported';
COMMENT ON COLUMN crm.complaint.created_at IS 'when it was received; the SLA clock starts here';
COMMENT ON COLUMN crm.complaint.first_response_at IS 'stamped at the first status move (picked up)';
COMMENT ON COLUMN crm.complaint.resolved_at IS 'stamped on the move to resolved; cleared on reopen';
COMMENT ON COLUMN crm.complaint.closed_at IS 'stamped on the move to closed; cleared on reopen';
COMMENT ON COLUMN crm.complaint.response_due IS 'deadline for the first response (maintained by the trigger)';
COMMENT ON COLUMN crm.complaint.resolution_due IS 'deadline for the resolution, moved on by the time spent in waiting_customer (maintained by the trigger)';
COMMENT ON COLUMN crm.complaint.escalation_level IS '0 on time; 1 first response overdue; 2 resolution overdue (raised by crm.escalate_overdue)';
COMMENT ON COLUMN crm.complaint.customer_confirmed IS 'the customer confirmed the resolution; needed to close';
COMMENT ON COLUMN crm.complaint.satisfaction IS 'customer satisfaction rating 1 to 5';
COMMENT ON COLUMN crm.complaint.sla_paused IS 'business time spent in waiting_customer so far (maintained by the trigger)';
COMMENT ON COLUMN crm.complaint.sla_paused_at IS 'when the current wait for the customer began, NULL when not waiting (maintained by the trigger)';
COMMENT ON COLUMN crm.complaint.status_note IS 'write-only: a note set in an UPDATE goes to the event row and is not stored here';

CREATE TABLE crm.complaint_event (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    complaint_id bigint NOT NULL REFERENCES crm.complaint (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    from_status  text,
    to_status    text NOT NULL,
    actor        text NOT NULL DEFAULT current_user,
    at           timestamptz NOT NULL DEFAULT now(),
    note         text
);
CREATE INDEX complaint_event_complaint_idx ON crm.complaint_event (complaint_id, id);
COMMENT ON TABLE crm.complaint_event IS 'every status move, assignment, escalation and note of a complaint: who, when, what';
COMMENT ON COLUMN crm.complaint_event.id IS 'event id, increasing in the order events were written';
COMMENT ON COLUMN crm.complaint_event.complaint_id IS 'the complaint';
COMMENT ON COLUMN crm.complaint_event.from_status IS 'status before (NULL when the complaint was created)';
COMMENT ON COLUMN crm.complaint_event.to_status IS 'status after; equal to from_status for assignments, escalations and notes';
COMMENT ON COLUMN crm.complaint_event.actor IS 'database role that made the change';
COMMENT ON COLUMN crm.complaint_event.at IS 'transaction time of the change';
COMMENT ON COLUMN crm.complaint_event.note IS 'status_note given with the change, or what happened (assigned to ..., escalated ...)';

CREATE TRIGGER workflow_transition_config_upsert BEFORE INSERT ON crm.workflow_transition
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('workflow', 'from_status', 'to_status');
ALTER TABLE crm.workflow_transition ENABLE ALWAYS TRIGGER workflow_transition_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.workflow_transition', '');
CREATE TRIGGER complaint_category_config_upsert BEFORE INSERT ON crm.complaint_category
    FOR EACH ROW EXECUTE FUNCTION crm.config_upsert('category');
ALTER TABLE crm.complaint_category ENABLE ALWAYS TRIGGER complaint_category_config_upsert;  -- also during a restore in replica mode
SELECT pg_catalog.pg_extension_config_dump('crm.complaint_category', '');
SELECT pg_catalog.pg_extension_config_dump('crm.complaint', '');
SELECT pg_catalog.pg_extension_config_dump('crm.complaint_event', '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.complaint', 'id'), '');
SELECT pg_catalog.pg_extension_config_dump(pg_catalog.pg_get_serial_sequence('crm.complaint_event', 'id'), '');

-- The engine reads its configuration as the user making the change.
GRANT SELECT ON crm.workflow_transition, crm.complaint_category TO PUBLIC;

CREATE FUNCTION crm.workflow_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'workflow_guard' LANGUAGE C;
COMMENT ON FUNCTION crm.workflow_guard() IS 'BEFORE INSERT OR UPDATE row trigger enforcing a workflow of crm.workflow_transition: arguments are the workflow name, then key=value settings (column names, events=, notify=); validates moves (SQLSTATE WF001), stamps times, computes SLA deadlines, pauses the clock in waiting_customer, writes events, sends NOTIFY';

CREATE TRIGGER workflow_guard BEFORE INSERT OR UPDATE ON crm.complaint
    FOR EACH ROW EXECUTE FUNCTION crm.workflow_guard('complaint');
CREATE TRIGGER workflow_transition_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.workflow_transition
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();
CREATE TRIGGER complaint_category_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.complaint_category
    FOR EACH STATEMENT EXECUTE FUNCTION crm.config_changed();

CREATE FUNCTION crm.escalate_overdue(now timestamptz DEFAULT now())
    RETURNS TABLE (complaint_id bigint, status text, priority text, breach text,
                   due timestamptz, escalation_level integer)
    LANGUAGE sql VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp
    AS $$
    WITH overdue AS (
        SELECT c.id,
               CASE WHEN c.resolved_at IS NULL AND c.resolution_due <= $1 THEN 2 ELSE 1 END AS level
          FROM crm.complaint c
         WHERE c.status NOT IN ('resolved', 'closed', 'cancelled', 'waiting_customer')
           AND ((c.escalation_level < 1 AND c.first_response_at IS NULL AND c.response_due <= $1)
             OR (c.escalation_level < 2 AND c.resolved_at IS NULL AND c.resolution_due <= $1))
           FOR UPDATE OF c
    ), raised AS (
        UPDATE crm.complaint c
           SET escalation_level = o.level
          FROM overdue o
         WHERE c.id = o.id AND c.escalation_level < o.level
        RETURNING c.id, c.status, c.priority, o.level,
                  CASE o.level WHEN 2 THEN 'resolution' ELSE 'first_response' END AS breach,
                  CASE o.level WHEN 2 THEN c.resolution_due ELSE c.response_due END AS due
    ), events AS (
        INSERT INTO crm.complaint_event (complaint_id, from_status, to_status, at, note)
        SELECT r.id, r.status, r.status, $1,
               format('escalated to level %s: %s overdue since %s', r.level,
                      replace(r.breach, '_', ' '), r.due)
          FROM raised r
    )
    SELECT r.id, r.status, r.priority, r.breach, r.due, r.level
      FROM raised r
     ORDER BY r.id;
$$;
COMMENT ON FUNCTION crm.escalate_overdue(timestamptz) IS 'raises the escalation level of open complaints past their deadlines (1: first response, 2: resolution), records an event for each, returns them; running it again does nothing more';

CREATE VIEW crm.complaint_sla_board AS
SELECT c.id AS complaint_id,
       c.customer_id,
       c.channel,
       c.category,
       c.priority,
       c.status,
       c.assignee,
       c.created_at,
       c.response_due,
       c.resolution_due,
       CASE WHEN c.first_response_at IS NULL AND c.response_due IS NOT NULL
            THEN crm.business_diff(now(), c.response_due, p.calendar) END AS response_left,
       CASE WHEN c.resolution_due IS NOT NULL
            THEN crm.business_diff(coalesce(c.sla_paused_at, now()), c.resolution_due, p.calendar) END AS resolution_left,
       c.sla_paused_at IS NOT NULL AS paused,
       (c.first_response_at IS NULL AND c.response_due <= now())
           OR (c.first_response_at > c.response_due) AS response_breached,
       coalesce(c.sla_paused_at, now()) >= c.resolution_due AS resolution_breached,
       c.escalation_level
  FROM crm.complaint c
  LEFT JOIN crm.sla_policy p ON p.priority = c.priority
 WHERE c.status NOT IN ('resolved', 'closed', 'cancelled');
COMMENT ON VIEW crm.complaint_sla_board IS 'open complaints with the business time left to their deadlines (negative: overdue), breach flags and escalation level';
COMMENT ON COLUMN crm.complaint_sla_board.complaint_id IS 'complaint id';
COMMENT ON COLUMN crm.complaint_sla_board.customer_id IS 'the customer, when known';
COMMENT ON COLUMN crm.complaint_sla_board.channel IS 'channel the complaint came through';
COMMENT ON COLUMN crm.complaint_sla_board.category IS 'complaint category';
COMMENT ON COLUMN crm.complaint_sla_board.priority IS 'priority, which sets the SLA targets';
COMMENT ON COLUMN crm.complaint_sla_board.status IS 'current workflow status';
COMMENT ON COLUMN crm.complaint_sla_board.assignee IS 'staff member the complaint is assigned to';
COMMENT ON COLUMN crm.complaint_sla_board.created_at IS 'when the complaint was received';
COMMENT ON COLUMN crm.complaint_sla_board.response_due IS 'first-response deadline';
COMMENT ON COLUMN crm.complaint_sla_board.resolution_due IS 'resolution deadline (moved later by time spent waiting for the customer)';
COMMENT ON COLUMN crm.complaint_sla_board.response_breached IS 'the first-response deadline has passed without a response, or the response came late';
COMMENT ON COLUMN crm.complaint_sla_board.resolution_breached IS 'the resolution deadline has passed';
COMMENT ON COLUMN crm.complaint_sla_board.escalation_level IS 'how many times the complaint has been escalated';
COMMENT ON COLUMN crm.complaint_sla_board.response_left IS 'business time left to the first-response deadline; NULL once responded';
COMMENT ON COLUMN crm.complaint_sla_board.resolution_left IS 'business time left to the resolution deadline (frozen while waiting for the customer)';
COMMENT ON COLUMN crm.complaint_sla_board.paused IS 'the SLA clock is stopped: waiting for the customer';

CREATE VIEW crm.complaint_stats AS
WITH m AS (
    SELECT date_trunc('month', c.created_at)::date AS month,
           c.category, c.channel, c.priority,
           crm.business_diff(c.created_at, c.first_response_at, p.calendar) AS to_first_response,
           crm.business_diff(c.created_at, c.resolved_at, p.calendar) - c.sla_paused AS to_resolution,
           (coalesce(c.first_response_at, now()) > c.response_due)
               OR (coalesce(c.resolved_at, c.sla_paused_at, now()) > c.resolution_due) AS breached
      FROM crm.complaint c
      LEFT JOIN crm.sla_policy p ON p.priority = c.priority
)
SELECT month, category, channel, priority,
       count(*) AS complaints,
       count(to_first_response) AS responded,
       count(to_resolution) AS resolved,
       count(*) FILTER (WHERE breached) AS breached,
       round(avg(breached::int), 4) AS breach_rate,
       justify_hours(avg(to_first_response)) AS mean_first_response,
       justify_hours(make_interval(secs => percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM to_first_response)))) AS p90_first_response,
       justify_hours(avg(to_resolution)) AS mean_resolution,
       justify_hours(make_interval(secs => percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM to_resolution)))) AS p90_resolution
  FROM m
 GROUP BY month, category, channel, priority;
COMMENT ON VIEW crm.complaint_stats IS 'complaint volume, SLA breach rate, mean and 90th percentile business time to first response and to resolution (paused time excluded), per month, category, channel and priority';
COMMENT ON COLUMN crm.complaint_stats.month IS 'month the complaints were received';
COMMENT ON COLUMN crm.complaint_stats.category IS 'complaint category';
COMMENT ON COLUMN crm.complaint_stats.channel IS 'channel the complaints came through';
COMMENT ON COLUMN crm.complaint_stats.priority IS 'priority';
COMMENT ON COLUMN crm.complaint_stats.complaints IS 'number of complaints received';
COMMENT ON COLUMN crm.complaint_stats.responded IS 'how many have had a first response';
COMMENT ON COLUMN crm.complaint_stats.resolved IS 'how many have been resolved';
COMMENT ON COLUMN crm.complaint_stats.breached IS 'how many missed (or are past) a deadline';
COMMENT ON COLUMN crm.complaint_stats.mean_first_response IS 'mean business time to the first response';
COMMENT ON COLUMN crm.complaint_stats.p90_first_response IS '90th percentile of the business time to the first response';
COMMENT ON COLUMN crm.complaint_stats.mean_resolution IS 'mean business time to resolution, time waiting for the customer excluded';
COMMENT ON COLUMN crm.complaint_stats.p90_resolution IS '90th percentile of the business time to resolution, time waiting for the customer excluded';
COMMENT ON COLUMN crm.complaint_stats.breach_rate IS 'share of complaints that missed (or are past) a deadline';
