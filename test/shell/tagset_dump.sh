#!/usr/bin/env bash
# pg_dump / pg_restore round trip of customer tags, tag rules and a user's own
# crm.tagset column with its GIN index; the restored rules still run.
set -euo pipefail

bindir=$("$PG_CONFIG" --bindir)
src=crm_tagset_dump
dst=crm_tagset_restored
dump=$(mktemp "${CRM_TMP:-/tmp}/tagset-XXXXXX.dump")
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

cleanup() {
    q -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" >/dev/null 2>&1 || true
    rm -f "$dump"
}
trap cleanup EXIT
cleanup
q -d postgres -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"

q -d "$src" <<'SQL'
CREATE EXTENSION crm;
INSERT INTO crm.customer (id, name, region) VALUES (1, 'Ann', 'north'), (2, 'Bo', 'south'), (3, 'Cy', 'north');
INSERT INTO crm.purchase (customer_id, purchased_at, channel, product, amount)
VALUES (1, now(), 'store', 'tea', 1500), (2, now(), 'app', 'cup', 20);
SELECT crm.tag(2, 'VIP', 'pref:oolong', 'high intent');
INSERT INTO crm.tag_rule (name, label, predicate, description)
VALUES ('big_spender', 'big spender', 'total_spend > 1000', 'spent more than 1000'),
       ('northern', 'region:north', $$region = 'north' AND NOT tags ? 'vip'$$, NULL);
SELECT * FROM crm.apply_tag_rules();
CREATE TABLE public.lead (id int PRIMARY KEY, labels crm.tagset NOT NULL);
INSERT INTO public.lead SELECT g, ('{l' || (g % 7) || ',m' || (g % 3) || '}')::crm.tagset FROM generate_series(1, 500) g;
INSERT INTO public.lead VALUES (501, '{}');
CREATE INDEX lead_labels ON public.lead USING gin (labels);
SQL

"$bindir/pg_dump" -Fc -d "$src" -f "$dump"
"$bindir/pg_restore" --exit-on-error -d "$dst" "$dump"

snapshot() {
    q -d "$1" <<'SQL'
SELECT id, tags FROM crm.customer ORDER BY id;
SELECT name, label, predicate, enabled, description FROM crm.tag_rule ORDER BY name;
SELECT count(*), md5(string_agg(id || ':' || labels::text, ',' ORDER BY id)) FROM public.lead;
SQL
}
a=$(snapshot "$src")
b=$(snapshot "$dst")
echo "$a"
if [ "$a" != "$b" ]; then
    echo "restored data differs:"
    diff <(echo "$a") <(echo "$b") || true
    exit 1
fi

# The restored database works: index scan, rules, amvalidate.
check=$(q -d "$dst" <<'SQL'
SET enable_seqscan = off;
SELECT (SELECT count(*) FROM public.lead WHERE labels OPERATOR(crm.@>) '{l1,m1}')
     = (SELECT count(*) FROM public.lead WHERE id % 7 = 1 AND id % 3 = 1)
   AND (SELECT sum(added) + sum(removed) FROM crm.apply_tag_rules()) = 0
   AND (SELECT bool_and(amvalidate(oid)) FROM pg_opclass WHERE opcname LIKE 'tagset%')
   AND (SELECT indexdef LIKE '%USING gin (tags)%' FROM pg_indexes WHERE indexname = 'customer_tags_idx');
SQL
)
echo "restored database checks: $check"
[ "$check" = t ]
