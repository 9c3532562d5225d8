/*
 * crm.h: declarations shared by the C modules of the crm extension.
 */
#ifndef CRM_H
#define CRM_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "datatype/timestamp.h"

/* GUC crm.default_country: ISO 3166 alpha-2 code, or empty. */
extern char *crm_default_country;

/* Whether the current statement is a COPY FROM into relid by its owner (workflow.c). */
extern bool crm_importing_history(Oid relid);

/* Appends the shortest exact decimal of v; nonfinite (if not NULL) for NaN and infinities (crm.c). */
extern void crm_append_double(StringInfo buf, double v, const char *nonfinite);

/* Appends a finite time in ISO 8601 at UTC; false (nothing appended) if it cannot (crm.c). */
extern bool crm_append_iso_utc(StringInfo buf, TimestampTz t);

/* 64-bit mix of a customer id (the splitmix64 finaliser), for hash tables keyed by customer. */
static inline uint64
crm_hash_customer(int64 k)
{
	uint64		x = (uint64) k;

	x ^= x >> 30;
	x *= UINT64CONST(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64CONST(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* Module initialisers called from _PG_init. */
extern void crm_phone_init(void);
extern void crm_security_init(void);

#endif
