/*
 * crm.c: module entry point of the crm extension.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "crm.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Defines the extension's settings; called once per backend on load. */
void
_PG_init(void)
{
	crm_phone_init();
	crm_security_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("crm");
#else
	EmitWarningsOnPlaceholders("crm");
#endif
}
