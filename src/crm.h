/*
 * crm.h: declarations shared by the C modules of the crm extension.
 */
#ifndef CRM_H
#define CRM_H

#include "fmgr.h"

/* GUC crm.default_country: ISO 3166 alpha-2 code, or empty. */
extern char *crm_default_country;

/* Module initialisers called from _PG_init. */
extern void crm_phone_init(void);
extern void crm_security_init(void);

#endif
