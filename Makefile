# crm: PGXS build.  `make && make install` builds and installs the extension;
# `make test`, `make demo`, `make bench` and `make fuzz` run against a throwaway
# cluster (see test/lib.sh).

EXTENSION  = crm
EXTVERSION = 0.1

PG_CONFIG ?= $(shell test -x /usr/lib/postgresql/15/bin/pg_config && echo /usr/lib/postgresql/15/bin/pg_config || echo pg_config)

# C modules, one per concern.
OBJS = \
	src/crm.o \
	src/email_core.o src/email.o \
	src/phone_core.o src/phone.o \
	src/similarity.o \
	src/tagset.o \
	src/rfm.o \
	src/sla.o src/workflow.o

# SQL definitions, concatenated in this order into the install script.
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
	src/workflow.sql

MODULE_big = crm
DATA_built = crm--$(EXTVERSION).sql
DATA       = $(wildcard src/updates/crm--*--*.sql) $(wildcard src/history/crm--*.sql)
EXTRA_CLEAN = crm--$(EXTVERSION).sql

# pg_regress tests in sql/ with expected output in expected/.
REGRESS = email phone similarity schema quality merge tagset rfm tier sla workflow catalog extension
REGRESS_OPTS = --load-extension=crm

PG_CFLAGS += -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

crm--$(EXTVERSION).sql: $(SQL_SRC)
	cat $(SQL_SRC) > $@

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
