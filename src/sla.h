/*
 * sla.h: business calendars and business-time arithmetic, and the
 * per-backend cache of workflow and SLA configuration shared with workflow.c.
 */
#ifndef CRM_SLA_H
#define CRM_SLA_H

#include "datatype/timestamp.h"
#include "utils/palloc.h"

typedef struct CrmCalendar CrmCalendar;

/*
 * Returns the memory context holding the configuration cache.  *generation
 * changes whenever the cache was dropped because a configuration table (or a
 * watched table) changed: callers then forget the pointers they kept.  Dropped
 * contexts are freed at the end of the transaction, so a pointer obtained in a
 * transaction stays valid until it ends.
 */
extern MemoryContext crm_cache_context(uint64 *generation);

/* Drops the cache when the given table's relcache entry is invalidated. */
extern void crm_cache_watch(Oid relid);

/* The named business calendar (error if it does not exist). */
extern CrmCalendar *crm_calendar_get(const char *name);

/* Business-time arithmetic; cal NULL means plain clock time. */
extern TimestampTz crm_business_add(TimestampTz ts, int64 usecs, CrmCalendar *cal);
extern int64 crm_business_diff(TimestampTz from, TimestampTz to, CrmCalendar *cal);

/* An interval as microseconds (days count 24 hours; months are an error). */
extern int64 crm_interval_usecs(const Interval *iv);

#endif
