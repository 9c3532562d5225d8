/*
 * crm.h: declarations shared by the C modules of the crm extension.
 */
#ifndef CRM_H
#define CRM_H

#include "fmgr.h"

/* GUC crm.default_country: ISO 3166 alpha-2 code, or empty. */
extern char *crm_default_country;

/* Whether the current statement is a COPY FROM into relid by its owner (workflow.c). */
extern bool crm_importing_history(Oid relid);

/* Module initialisers called from _PG_init. */
extern void crm_phone_init(void);
extern void crm_security_init(void);

#endif
