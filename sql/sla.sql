-- Business calendars and business-time arithmetic
SET search_path = crm, public;
SET timezone = 'UTC';

-- Weekly hours: canonical form, lenient spacing, day lists and ranges.
SELECT crm.parse_weekly_hours('mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00');
SELECT crm.parse_weekly_hours(' MON , wed-thu 08:00 - 12:00 ;; tue 13:00-24:00 ; ');
SELECT crm.parse_weekly_hours('sat-mon 00:00-24:00');
SELECT crm.parse_weekly_hours('mon 13:00-14:00; mon 09:00-10:00');

-- Bad weekly hours are clear errors.
SELECT crm.parse_weekly_hours('');
SELECT crm.parse_weekly_hours('monday 09:00-12:00');
SELECT crm.parse_weekly_hours('mon-fri 9:00-12:00');
SELECT crm.parse_weekly_hours('mon-fri 09:00-25:00');
SELECT crm.parse_weekly_hours('mon-fri 09:60-10:00');
SELECT crm.parse_weekly_hours('mon-fri 12:00-09:00');
SELECT crm.parse_weekly_hours('mon-fri 09:00-12:00,11:00-13:00');
SELECT crm.parse_weekly_hours('mon-fri 09:00-12:00; fri 08:00-10:00');
SELECT crm.parse_weekly_hours('mon-fri 09:00 12:00');
SELECT crm.parse_weekly_hours('mon-fri 09:00-12:00 sat');

-- Defining calendars and holidays.
SELECT crm.define_calendar('paris', 'Europe/Paris', 'mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00');
SELECT crm.define_calendar('bad', 'Mars/Olympus', 'mon-fri 09:00-17:00');
SELECT crm.define_calendar('bad', 'UTC', 'weekdays 9-5');
SELECT crm.add_holiday('paris', '2026-12-25', 'Christmas');
SELECT crm.add_holiday('paris', '2026-12-25');
SELECT crm.add_holiday('nowhere', '2026-12-25');
SELECT name, time_zone, weekly_hours FROM crm.business_calendar ORDER BY name;
-- A direct insert is validated too.
INSERT INTO crm.business_calendar (name, time_zone, weekly_hours) VALUES ('x', 'UTC', 'mon 09:00');

-- Within a day, across the lunch break, over the weekend (Friday 2026-11-20).
SELECT crm.business_add('2026-11-20 10:00 Europe/Paris', '1 hour', 'paris') AT TIME ZONE 'Europe/Paris' AS same_morning,
       crm.business_add('2026-11-20 11:30 Europe/Paris', '1 hour', 'paris') AT TIME ZONE 'Europe/Paris' AS after_lunch,
       crm.business_add('2026-11-20 17:30 Europe/Paris', '2 hours', 'paris') AT TIME ZONE 'Europe/Paris' AS saturday,
       crm.business_add('2026-11-21 13:00 Europe/Paris', '2 hours', 'paris') AT TIME ZONE 'Europe/Paris' AS monday,
       crm.business_add('2026-11-22 03:00 Europe/Paris', '30 minutes', 'paris') AT TIME ZONE 'Europe/Paris' AS sunday_night;
-- Ending exactly at closing time stays at closing time; zero duration is ts itself.
SELECT crm.business_add('2026-11-20 17:00 Europe/Paris', '1 hour', 'paris') AT TIME ZONE 'Europe/Paris' AS at_close,
       crm.business_add('2026-11-22 12:00 Europe/Paris', '0', 'paris') AT TIME ZONE 'Europe/Paris' AS zero;
-- A day counts 24 business hours: 1 day from Monday 09:00 is 24 opening hours later.
SELECT crm.business_add('2026-11-23 09:00 Europe/Paris', '1 day', 'paris') AT TIME ZONE 'Europe/Paris' AS one_day;
-- Holidays are skipped: Christmas Friday, so Thursday 17:00 + 2h lands on Saturday.
SELECT crm.business_add('2026-12-24 17:00 Europe/Paris', '2 hours', 'paris') AT TIME ZONE 'Europe/Paris' AS over_christmas;
SELECT crm.business_diff('2026-12-24 17:00 Europe/Paris', '2026-12-28 10:00 Europe/Paris', 'paris') AS over_christmas;
SELECT crm.business_diff('2026-11-20 17:30 Europe/Paris', '2026-11-23 11:00 Europe/Paris', 'paris') AS weekend,
       crm.business_diff('2026-11-23 11:00 Europe/Paris', '2026-11-20 17:30 Europe/Paris', 'paris') AS backwards,
       crm.business_diff('2026-11-22 01:00 Europe/Paris', '2026-11-22 23:00 Europe/Paris', 'paris') AS sunday;

-- NULL calendar: plain clock time; NULL inputs give NULL.
SELECT crm.business_add('2026-11-21 13:00+00', '1 day 02:00', NULL) AS clock_add,
       crm.business_diff('2026-11-20 00:00+00', '2026-11-21 02:30+00', NULL) AS clock_diff,
       crm.business_add(NULL, '1 hour', 'paris') AS null_ts,
       crm.business_diff('2026-11-20', NULL, 'paris') AS null_to;
-- Errors.
SELECT crm.business_add('2026-11-20 10:00+00', '1 month', 'paris');
SELECT crm.business_add('2026-11-20 10:00+00', '-1 hour', 'paris');
SELECT crm.business_add('2026-11-20 10:00+00', '1 hour', 'nowhere');
SELECT crm.business_add('infinity', '1 hour', 'paris');

-- Daylight saving: a 24-hour calendar counts real hours (23 in March, 25 in October).
SELECT crm.define_calendar('paris247', 'Europe/Paris', 'mon-sun 00:00-24:00');
SELECT crm.business_diff('2026-03-29 00:00 Europe/Paris', '2026-03-30 00:00 Europe/Paris', 'paris247') AS spring_day,
       crm.business_diff('2026-10-25 00:00 Europe/Paris', '2026-10-26 00:00 Europe/Paris', 'paris247') AS autumn_day,
       crm.business_add('2026-03-29 01:30 Europe/Paris', '1 hour', 'paris247') AT TIME ZONE 'Europe/Paris' AS across_gap;
-- Opening hours 01:00-04:00 on Sundays are 2 real hours on the spring day, 4 in autumn.
SELECT crm.define_calendar('night', 'Europe/Paris', 'sun 01:00-04:00');
SELECT crm.business_diff('2026-03-28', '2026-03-30', 'night') AS spring,
       crm.business_diff('2026-10-24', '2026-10-26', 'night') AS autumn,
       crm.business_diff('2026-11-07', '2026-11-09', 'night') AS ordinary;
-- The same instants in another calendar time zone.
SELECT crm.define_calendar('shanghai', 'Asia/Shanghai', 'mon-fri 09:00-18:00');
SELECT crm.business_add('2026-11-20 09:00+00', '2 hours', 'shanghai') AS shanghai_friday_evening;

-- Independent check: count the open minutes one by one in SQL and compare
-- with business_diff, and check that business_add inverts business_diff.
CREATE TEMP TABLE samples AS
SELECT i,
       timestamptz '2026-03-20 00:00+00' + (i * 7919 % 40000) * interval '1 minute' AS t0,
       (i * 104729 % 6000) * interval '1 minute' AS span
  FROM generate_series(1, 60) i;
SELECT crm.add_holiday('paris', '2026-04-06');
WITH open_minutes AS (
    SELECT s.i, count(*) FILTER (
               WHERE extract(isodow FROM (m AT TIME ZONE 'Europe/Paris')) BETWEEN 1 AND 5
                 AND ((m AT TIME ZONE 'Europe/Paris')::time >= '09:00' AND (m AT TIME ZONE 'Europe/Paris')::time < '12:00'
                   OR (m AT TIME ZONE 'Europe/Paris')::time >= '13:00' AND (m AT TIME ZONE 'Europe/Paris')::time < '18:00')
                 AND (m AT TIME ZONE 'Europe/Paris')::date NOT IN (SELECT day FROM crm.calendar_holiday WHERE calendar = 'paris')
               OR extract(isodow FROM (m AT TIME ZONE 'Europe/Paris')) = 6
                 AND (m AT TIME ZONE 'Europe/Paris')::time >= '10:00' AND (m AT TIME ZONE 'Europe/Paris')::time < '14:00'
                 AND (m AT TIME ZONE 'Europe/Paris')::date NOT IN (SELECT day FROM crm.calendar_holiday WHERE calendar = 'paris')
           ) AS minutes
      FROM samples s
      LEFT JOIN LATERAL generate_series(s.t0, s.t0 + s.span - interval '1 minute', interval '1 minute') m ON true
     GROUP BY s.i
)
SELECT count(*) AS samples,
       count(*) FILTER (WHERE o.minutes > 0) AS nonzero,
       count(*) FILTER (WHERE crm.business_diff(s.t0, s.t0 + s.span, 'paris') = o.minutes * interval '1 minute') AS diff_matches,
       count(*) FILTER (WHERE o.minutes > 0 AND crm.business_diff(s.t0, crm.business_add(s.t0, o.minutes * interval '1 minute', 'paris'), 'paris')
                               = o.minutes * interval '1 minute') AS add_inverts,
       count(*) FILTER (WHERE o.minutes > 0 AND crm.business_add(s.t0, o.minutes * interval '1 minute', 'paris') <= s.t0 + s.span) AS add_within
  FROM samples s JOIN open_minutes o USING (i);

-- Changing a calendar takes effect at once (the cache is invalidated).
SELECT crm.business_diff('2026-11-23 00:00+00', '2026-11-24 00:00+00', 'shanghai');
SELECT crm.define_calendar('shanghai', 'Asia/Shanghai', 'mon-fri 09:00-12:00');
SELECT crm.business_diff('2026-11-23 00:00+00', '2026-11-24 00:00+00', 'shanghai');
SELECT crm.add_holiday('shanghai', '2026-11-23');
SELECT crm.business_diff('2026-11-23 00:00+00', '2026-11-24 00:00+00', 'shanghai');

-- The functions are parallel safe: the same result under a forced parallel plan.
CREATE TABLE sla_times AS SELECT timestamptz '2026-01-01' + i * interval '17 minutes' AS t FROM generate_series(1, 20000) i;
ANALYZE sla_times;
SELECT sum(extract(epoch FROM crm.business_add(t, '3 hours', 'paris') - t)) AS serial FROM sla_times \gset
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT sum(extract(epoch FROM crm.business_add(t, '3 hours', 'paris') - t)) FROM sla_times;
SELECT sum(extract(epoch FROM crm.business_add(t, '3 hours', 'paris') - t)) = :serial AS parallel_equals_serial,
       bool_and(crm.business_diff(t, crm.business_add(t, '3 hours', 'paris'), 'paris') = interval '3 hours') AS all_three_hours
  FROM sla_times;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE sla_times;
