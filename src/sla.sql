
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
