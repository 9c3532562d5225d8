# crm: PGXS build.  `make && make install` builds and installs the extension;
# `make test`, `make demo`, `make bench` and `make fuzz` run against a throwaway
# cluster (see test/lib.sh).

EXTENSION  = crm
EXTVERSION = 0.2

PG_CONFIG ?= $(shell test -x /usr/lib/postgresql/15/bin/pg_config && echo /usr/lib/postgresql/15/bin/pg_config || echo pg_config)

# C modules, one per concern.
OBJS = \
	src/crm.o \
	src/email_core.o src/email.o \
	src/phone_core.o src/phone.o \
	src/similarity.o \
	src/tagset.o \
	src/rfm.o \
	src/sla.o src/workflow.o \
	src/analytics.o src/retention.o \
	src/clv.o \
	src/security.o

# SQL definitions, concatenated in this order into the install script.
# Modules new in this version go in SQL_NEW: they are also appended to the
# upgrade script from the previous version.
SQL_SRC = \
	src/header.sql \
	src/email.sql \
	src/phone.sql \
	src/similarity.sql \
	src/schema.sql \
	src/quality.sql \
	src/tagset.sql \
	src/rfm.sql \
	src/tier.sql \
	src/sla.sql \
	src/workflow.sql \
	$(SQL_NEW)

SQL_NEW = \
	src/staff.sql \
	src/analytics.sql \
	src/clv.sql \
	src/sales.sql \
	src/marketing.sql \
	src/service.sql \
	src/security.sql

# Upgrade from the last released version: hand-written changes to existing
# objects (src/updates/), then the new modules.
PREV_VERSION = 0.1
UPGRADE = crm--$(PREV_VERSION)--$(EXTVERSION).sql
UPGRADE_SRC = src/updates/$(PREV_VERSION)--$(EXTVERSION).sql $(SQL_NEW)

MODULE_big = crm
DATA_built = crm--$(EXTVERSION).sql $(UPGRADE)
# Install and upgrade scripts of released versions, kept as they were released.
DATA       = $(wildcard src/history/crm--*.sql)

# pg_regress tests in sql/ with expected output in expected/.
REGRESS = email phone similarity schema quality merge tagset rfm tier sla workflow analytics clv sales marketing service security retention catalog extension
REGRESS_OPTS = --load-extension=crm

PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

crm--$(EXTVERSION).sql: $(SQL_SRC)
	cat $(SQL_SRC) > $@

$(UPGRADE): $(UPGRADE_SRC)
	cat $(UPGRADE_SRC) > $@

.PHONY: test demo bench fuzz valgrind deps print-%

deps:
	@sh test/deps.sh

test:
	@PG_CONFIG=$(PG_CONFIG) bash test/run.sh

demo:
	@PG_CONFIG=$(PG_CONFIG) bash test/demo.sh

bench:
	@PG_CONFIG=$(PG_CONFIG) bash test/bench.sh

fuzz:
	@PG_CONFIG=$(PG_CONFIG) bash test/fuzz.sh

valgrind:
	@PG_CONFIG=$(PG_CONFIG) bash test/valgrind.sh

print-%:
	@echo $($*)
