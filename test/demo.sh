#!/usr/bin/env bash
# make demo: build, start a throwaway cluster, create the extension, load a
# generated data set and print a tour.  The data set is test/demo/00_data.sql;
# each further test/demo/NN_name.sql is one stop of the tour, run in order.
source "$(dirname "$0")/lib.sh"

crm_build
crm_start
crm_psql -c "CREATE DATABASE demo"
export PGDATABASE=demo
crm_psql -c "CREATE EXTENSION crm"
for f in "$CRM_TOP"/test/demo/*.sql; do
    psql -X -q -v ON_ERROR_STOP=1 --pset=footer=off -f "$f" || exit 1
done
echo
echo "The cluster is stopped and removed now; run the same SQL on your own server after CREATE EXTENSION crm."
