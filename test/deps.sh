#!/bin/sh
# Installs what building and testing crm needs, when it is missing.
# As root this uses apt-get; as any other user it only checks and says what to install.
set -eu
PG_MAJOR=${PG_MAJOR:-15}
missing=""
[ -f "/usr/include/postgresql/$PG_MAJOR/server/postgres.h" ] || missing="$missing postgresql-server-dev-$PG_MAJOR"
[ -f "/usr/share/postgresql/$PG_MAJOR/extension/pgtap.control" ] || missing="$missing postgresql-$PG_MAJOR-pgtap"
command -v pg_prove >/dev/null 2>&1 || missing="$missing libtap-parser-sourcehandler-pgtap-perl"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/postgres" ] || missing="$missing postgresql-$PG_MAJOR"
[ -f "/usr/share/postgresql/$PG_MAJOR/extension/pg_cron.control" ] || missing="$missing postgresql-$PG_MAJOR-cron"
# Reference values of the statistics tests and the CLV bench are computed with SciPy.
/usr/bin/python3 -c 'import scipy.optimize, scipy.stats' >/dev/null 2>&1 || missing="$missing python3-scipy"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
else
    echo "missing packages:$missing" >&2
    echo "install them as root: apt-get install$missing" >&2
    exit 1
fi
